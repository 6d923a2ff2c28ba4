#!/usr/bin/python3
"""Mints an OIDC ID token from the development issuer of a Signet dev
instance (scripts/provision.sh made its RSA key, DIR/pki/oidc-issuer.key,
and put its public JWKS into build system "dev-ci"). The token looks like
one from GitHub Actions: RS256 (RFC 7518 3.3), kid = the key's RFC 7638
thumbprint, claims iss, aud, iat, nbf, exp, sub, repository, ref, sha,
run_id, workflow_ref. It is printed on stdout.

For tests and for trying origin verification by hand:

    . .dev/env
    TOKEN=$(scripts/dev-id-token.py --ref refs/heads/main --sha $(git rev-parse HEAD))
    curl ... -F origin.idToken="$TOKEN" -F origin.commitId=... -F origin.branchName=main

Needs python3-cryptography (Debian). Development only: never give this key
to a production appliance.
"""

import argparse
import base64
import hashlib
import json
import os
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

DEV_ISSUER = "https://oidc.dev.signet.invalid"
DEV_AUDIENCE = "signet"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def int_b64url(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def public_jwk(key) -> dict:
    nums = key.public_key().public_numbers()
    return {"kty": "RSA", "n": int_b64url(nums.n), "e": int_b64url(nums.e)}


def thumbprint(jwk: dict) -> str:
    # RFC 7638 3.2: the required members, sorted, no whitespace
    canon = json.dumps({k: jwk[k] for k in ("e", "kty", "n")},
                       separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canon.encode()).digest())


def load_key(path: Path):
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def mint(key, claims: dict, kid: str, alg: str = "RS256") -> str:
    header = {"alg": alg, "typ": "JWT", "kid": kid}
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode())
                     + "." +
                     b64url(json.dumps(claims, separators=(",", ":")).encode()))
    sig = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(),
                   hashes.SHA256())
    return signing_input + "." + b64url(sig)


def default_key() -> Path:
    d = os.environ.get("SIGNET_DIR") or str(Path(__file__).resolve().parents[1] / ".dev")
    return Path(d) / "pki" / "oidc-issuer.key"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--key", type=Path, default=None,
                    help="issuer key (default $SIGNET_DIR/pki/oidc-issuer.key)")
    ap.add_argument("--issuer", default=DEV_ISSUER)
    ap.add_argument("--audience", default=DEV_AUDIENCE)
    ap.add_argument("--repository", default="signet-dev/demo-app",
                    help="owner/name (the build system's repositoryUrl is "
                         "https://github.com/<repository>)")
    ap.add_argument("--ref", default="refs/heads/main")
    ap.add_argument("--sha", default="0" * 40)
    ap.add_argument("--run-id", default="1")
    ap.add_argument("--lifetime", type=int, default=300,
                    help="seconds from now to exp (may be negative)")
    ap.add_argument("--issued-ago", type=int, default=0,
                    help="seconds before now for iat and nbf")
    ap.add_argument("--kid", default=None,
                    help="key id in the header (default: the key's thumbprint)")
    ap.add_argument("--claim", action="append", default=[], metavar="NAME=JSON",
                    help="set or override a claim (JSON value, or a plain string)")
    ap.add_argument("--jwks", action="store_true",
                    help="print the key's public JWKS instead of a token")
    args = ap.parse_args(argv)

    key = load_key(args.key or default_key())
    jwk = public_jwk(key)
    kid = thumbprint(jwk)
    if args.jwks:
        print(json.dumps({"keys": [dict(jwk, kid=kid, alg="RS256", use="sig")]}))
        return 0
    now = int(time.time())
    claims = {
        "iss": args.issuer,
        "aud": args.audience,
        "iat": now - args.issued_ago,
        "nbf": now - args.issued_ago,
        "exp": now + args.lifetime,
        "sub": f"repo:{args.repository}:ref:{args.ref}",
        "repository": args.repository,
        "ref": args.ref,
        "sha": args.sha,
        "run_id": str(args.run_id),
        "workflow_ref": f"{args.repository}/.github/workflows/build.yml@{args.ref}",
    }
    for c in args.claim:
        name, _, value = c.partition("=")
        try:
            claims[name] = json.loads(value)
        except json.JSONDecodeError:
            claims[name] = value
    print(mint(key, claims, args.kid or kid))
    return 0


if __name__ == "__main__":
    sys.exit(main())
