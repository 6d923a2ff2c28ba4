#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/NAME/: valid inputs of each
kind the targets read and a few edge cases, a few dozen small files per
target. The output is committed; run this again after changing a target's
input format (python3-cryptography makes the certificates and signs the
ID tokens with the test key of fuzz_origin.c).

    tests/fuzz/gen_corpus.py [OUTDIR]     # default: tests/fuzz/corpus
"""
import base64
import datetime
import hashlib
import json
import os
import re
import shutil
import struct
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- keyholder protocol (pkcs11/PROTOCOL.md) --------------------------

def u8(v):
    return struct.pack(">B", v)


def u32(v):
    return struct.pack(">I", v & 0xFFFFFFFF)


def blob(b):
    if isinstance(b, str):
        b = b.encode()
    return u32(len(b)) + b


def frame(t, body=b"", rid=0):
    # u32 length, u8 type, u32 request id, body (pkcs11/PROTOCOL.md)
    return u32(5 + len(body)) + u8(t) + u32(rid) + body


def key_info(kid, label, typ, bits):
    return blob(kid) + blob(label) + u8(typ) + u32(bits)


def khproto():
    kid = "00ff" * 4
    req = {
        "status": frame(0x01),
        "list0": frame(0x02, u32(0)),
        "list64": frame(0x02, u32(64)),
        "pubkey": frame(0x03, blob(kid)),
        # SIGN ends with what the signature is for: purpose, reference
        "sign_pkcs1": frame(0x04, blob(kid) + u8(1) + u8(1) + blob(bytes(range(32)))
                            + u8(1) + blob("0b5e7e4c-1f0a-4c57-9f43-5d6a2b1c9e80"),
                            rid=0x01020304),
        "sign_pss384": frame(0x04, blob(kid) + u8(2) + u8(2) + blob(b"\x11" * 48)
                             + u8(1) + blob("r")),
        "sign_ecdsa512": frame(0x04, blob(kid) + u8(3) + u8(3) + blob(b"\x22" * 64)
                               + u8(2) + blob("signet-cli:alice")),
        # GENERATE ends with the administrator's flag and name
        "gen_rsa": frame(0x05, blob("release key") + u8(1) + u32(3072) + u8(1) + blob("alice")),
        "gen_ec": frame(0x05, blob("ec") + u8(2) + u32(256) + u8(1) + blob("admin \u00e9".encode())),
        "login": frame(0x06, blob("1234")),
        "login_fd": frame(0x07),
    }
    rep = {
        "failure": frame(0xFF, u32(-13) + blob("token refused")),
        "status": frame(0x81, u8(1) + u8(1) + blob("signet") + blob("SoftHSM project")
                        + blob("SoftHSM v2") + blob("0123456789abcdef") + u32(0x0000040D) + u32(2)
                        + u32(2) + u32(1) + u32(2)),
        "list": frame(0x82, u32(2) + u32(2) + key_info(kid, "release", 1, 3072)
                      + key_info("abcd", "", 2, 256)),
        "pubkey": frame(0x83, blob(bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")
                                   + b"\x04" + b"\x01" * 64)),
        "sign": frame(0x84, blob(b"\x30\x06\x02\x01\x01\x02\x01\x01"), rid=0xfffffffe),
        "gen": frame(0x85, key_info(kid, "new key", 1, 2048)),
        "login": frame(0x86),
        "login_fd": frame(0x87, u32(-20) + u32(0x00010000) + u8(1)),
        "login_fd_refused": frame(0x87, u32(-9) + u32(0) + u8(1)),
    }
    for n, f in req.items():
        put("khproto", "req_" + n, u8(0) + f)
        put("khproto", "direct_req_" + n, u8(2) + f)
    for n, f in rep.items():
        put("khproto", "rep_" + n, u8(1) + f)
        put("khproto", "direct_rep_" + n, u8(2) + f)
    # edge cases
    put("khproto", "req_two_frames", u8(0) + req["status"] + req["sign_pkcs1"])
    put("khproto", "req_len_zero", u8(0) + u32(0))
    put("khproto", "req_len_too_big", u8(0) + u32(16385) + b"\x01")
    put("khproto", "req_len_max", u8(0) + u32(16384) + b"\x01" * 8)
    put("khproto", "req_truncated", u8(0) + u32(40) + b"\x04\x00\x00")
    put("khproto", "req_trailing_byte", u8(0) + frame(0x01, b"\x00"))
    put("khproto", "req_unknown_type", u8(0) + frame(0x42))
    put("khproto", "req_key_id_upper", u8(0) + frame(0x03, blob("00FF")))
    put("khproto", "req_key_id_odd", u8(0) + frame(0x03, blob("abc")))
    put("khproto", "req_digest_short", u8(0) + frame(0x04, blob(kid) + u8(1) + u8(1) + blob(b"\x00" * 31)
                                                      + u8(1) + blob("r")))
    put("khproto", "req_sign_no_ref", u8(0) + frame(0x04, blob(kid) + u8(1) + u8(1) + blob(b"\x00" * 32)))
    put("khproto", "req_sign_purpose0", u8(0) + frame(0x04, blob(kid) + u8(1) + u8(1) + blob(b"\x00" * 32)
                                                       + u8(0) + blob("r")))
    put("khproto", "req_sign_ref_empty", u8(0) + frame(0x04, blob(kid) + u8(1) + u8(1) + blob(b"\x00" * 32)
                                                        + u8(1) + blob("")))
    put("khproto", "req_sign_ref_ctrl", u8(0) + frame(0x04, blob(kid) + u8(3) + u8(1) + blob(b"\x00" * 32)
                                                       + u8(1) + blob("a\nb")))
    put("khproto", "req_sign_ref_long", u8(0) + frame(0x04, blob(kid) + u8(3) + u8(1) + blob(b"\x00" * 32)
                                                       + u8(1) + blob("r" * 65)))
    put("khproto", "req_gen_no_admin", u8(0) + frame(0x05, blob("x") + u8(2) + u32(256)))
    put("khproto", "req_gen_origin0", u8(0) + frame(0x05, blob("x") + u8(2) + u32(256) + u8(0) + blob("a")))
    put("khproto", "req_gen_admin_empty", u8(0) + frame(0x05, blob("x") + u8(2) + u32(256) + u8(1) + blob("")))
    put("khproto", "req_pin_nul", u8(0) + frame(0x06, blob(b"12\x0034")))
    put("khproto", "req_gen_rsa1024", u8(0) + frame(0x05, blob("x") + u8(1) + u32(1024) + u8(1) + blob("a")))
    put("khproto", "rep_bool_two", u8(1) + frame(0x81, u8(2) + u8(0) + blob("") * 4 + u32(0) + u32(0)))
    put("khproto", "rep_label_ctrl", u8(1) + frame(0x85, key_info(kid, "a\x1b[2Jb", 1, 2048)))
    put("khproto", "rep_list_over", u8(1) + frame(0x82, u32(1) + u32(2) + key_info(kid, "a", 1, 2048)))
    put("khproto", "rep_failure_pos", u8(1) + frame(0xFF, u32(5) + blob("x")))
    put("khproto", "direct_len_mismatch", u8(2) + u32(9) + b"\x01")
    # the keyholder's journal (pkcs11/khjournal.h), selector 3
    lines, prev = [], "0" * 64
    for seq, fields in enumerate([
            '"op":"start","pid":7,"generate":true',
            '"op":"login","via":"pin-file","ok":true,"result":"ok","failures":0',
            '"op":"sign","keyId":"00ff00ff","mechanism":"rsa-pkcs1","hash":"sha256",'
            '"digest":"' + "ab" * 32 + '","purpose":"request","ref":"r-1"'], 1):
        line = '{"seq":%d,"prev":"%s","time":"2026-12-02T00:00:00Z",%s}' % (seq, prev, fields)
        lines.append(line)
        prev = hashlib.sha256(line.encode()).hexdigest()
    good = "".join(l + "\n" for l in lines).encode()
    put("khproto", "journal_ok", u8(3) + good)
    put("khproto", "journal_edited", u8(3) + good.replace(b'"pid":7', b'"pid":8'))
    put("khproto", "journal_removed", u8(3) + (lines[0] + "\n" + lines[2] + "\n").encode())
    put("khproto", "journal_torn", u8(3) + good[:-5])
    put("khproto", "journal_long", u8(3) + b'{"seq":1,' + b"x" * 1100 + b"\n" + good)
    put("khproto", "journal_garbage", u8(3) + b"\x00\n{}\n{\"seq\":01,\"prev\":\"\"}\n")
    put("khproto", "direct_short", u8(2) + b"\x00\x00")


# --- console protocol (appliance/console/consproto.h) ------------------------

def cframe(obj):
    b = obj if isinstance(obj, bytes) else json.dumps(obj, separators=(",", ":")).encode()
    return u32(len(b)) + b


def consproto():
    reqs = {
        "login": {"op": "login", "username": "officer", "password": "correct horse"},
        "logout": {"op": "logout"},
        "pending": {"op": "pending"},
        "request": {"op": "request", "id": "r-0123", "poll": True},
        "decide": {"op": "decide", "id": "r-0123", "decision": "approve", "comment": "ok"},
        "token_status": {"op": "token-status"},
        "token_login": {"op": "token-login"},
    }
    for n, o in reqs.items():
        put("consproto", "req_" + n, u8(0) + cframe(o))
    put("consproto", "rep_pending", u8(1) + cframe({"ok": True, "op": "pending", "items": [
        {"id": "r-1", "project": "app", "policy": "release", "description": "caf\u00e9 \u2603",
         "parameters": {"version": "1.2.3"}, "origin": {"branchName": "main"}, "size": 12345}]}))
    put("consproto", "rep_error", u8(1) + cframe({"ok": False, "error": "forbidden", "message": "no"}))
    put("consproto", "rep_token", u8(1) + cframe({"ok": True, "op": "token-login", "flags": 65536,
                                                   "present": True, "loggedIn": False}))
    put("consproto", "two_frames", u8(0) + cframe(reqs["pending"]) + cframe(reqs["logout"]))
    put("consproto", "len_zero", u8(0) + u32(0))
    put("consproto", "len_too_big", u8(0) + u32(64 * 1024 + 1) + b"{}")
    put("consproto", "reply_len_big", u8(1) + u32(1024 * 1024) + b"{}")
    put("consproto", "truncated", u8(0) + u32(20) + b'{"op":')
    put("consproto", "array", u8(0) + cframe(b"[1,2,3]"))
    put("consproto", "duplicate_keys", u8(0) + cframe(b'{"op":"a","op":"b"}'))
    put("consproto", "escapes", u8(0) + cframe(b'{"op":"\\u00e9\\ud83d\\ude00\\/x","n":-0.0,"r":1e300}'))
    put("consproto", "nul_escape", u8(0) + cframe(b'{"op":"a\\u0000b"}'))
    put("consproto", "bad_utf8", u8(0) + cframe(b'{"op":"\xff\xfe"}'))
    put("consproto", "trailing", u8(0) + cframe(b'{"op":"x"} {"op":"y"}'))
    put("consproto", "deep", u8(1) + cframe(b'{"a":' * 40 + b"1" + b"}" * 40))
    put("consproto", "half_header", u8(0) + b"\x00\x00")


# --- submission form (web/form.h) -------------------------------------

def ffield(name, filename=None):
    name = name.encode() if isinstance(name, str) else name
    if filename is None:
        tail = u8(0)
    elif filename == "":
        tail = u8(1)
    else:
        fb = filename.encode() if isinstance(filename, str) else filename
        tail = u8(2) + u8(len(fb)) + fb
    return u8(0) + u8(len(name)) + name + tail


def fdata(b):
    b = b.encode() if isinstance(b, str) else b
    out = b""
    while True:
        out += u8(1) + u8(min(len(b), 255)) + b[:255]
        b = b[255:]
        if not b:
            return out


def ffill(byte, count):
    return u8(2) + u8(byte) + struct.pack(">H", count)


def ftext(name, value):
    return ffield(name, "") + fdata(value)


def form():
    big, small = u8(1), u8(0)
    slugs = ftext("projectSlug", "demo-app") + ftext("signingPolicySlug", "test-signing")
    # the artifact is the last part of the form
    full = (slugs + ftext("parameters.version", "1.2.3")
            + ftext("origin.commitId", "0123456789abcdef0123456789abcdef01234567")
            + ftext("origin.branchName", "main") + ftext("origin.idToken", "eyJ.eyJ.sig")
            + ftext("description", "line one\r\nline two\ttab")
            + ffield("artifact", "dir/app.bin") + fdata("abc"))
    put("form", "complete", big + full)
    put("form", "complete_small_limit", small + full)
    put("form", "artifact_first", big + ffield("artifact", "app.exe") + fdata(b"\x00MZ" * 50)
        + ftext("projectSlug", "p") + ftext("signingPolicySlug", "s"))
    put("form", "artifact_too_large", small + ffield("artifact", "a") + ffill(0x41, 17))
    put("form", "artifact_not_file", big + ffield("artifact") + fdata("x"))
    put("form", "artifact_twice", big + ffield("artifact", "a") + fdata("1") + ffield("artifact", "b"))
    put("form", "artifact_after_text", big + ffield("artifact", "a") + fdata("1")
        + ftext("description", "d") + fdata("more"))
    for i, fn in enumerate(["..", ".", "a/", "C:\\dir\\x.exe", "a\x01b", "x" * 255, "/"]):
        put("form", "filename_%d" % i, big + ffield("artifact", fn) + fdata("z"))
    put("form", "no_artifact", big + ftext("projectSlug", "p"))
    put("form", "unknown_field", big + ftext("nope", "x"))
    put("form", "duplicate_field", big + ftext("projectSlug", "a") + ftext("projectSlug", "b"))
    put("form", "duplicate_param", big + ftext("parameters.v", "a") + ftext("parameters.v", "b"))
    put("form", "bad_param_name", big + ftext("parameters.a b", "x"))
    put("form", "empty_param_name", big + ftext("parameters.", "x"))
    put("form", "unknown_origin", big + ftext("origin.color", "red"))
    put("form", "long_name", big + ftext("parameters." + "n" * 64, "x") + ftext("x" * 80, "y"))
    put("form", "slug_too_long", big + ftext("projectSlug", "s" * 65))
    put("form", "description_limit", big + ffield("description", "") + ffill(0x61, 4096)
        + ffield("artifact", "a") + fdata("1"))
    put("form", "description_over", big + ffield("description", "") + ffill(0x61, 4097))
    put("form", "id_token_limit", big + ffield("origin.idToken", "") + ffill(0x41, 16384))
    put("form", "control_chars", big + ftext("projectSlug", "a\nb"))
    put("form", "bad_utf8", big + ftext("description", b"caf\xc3") + ffield("artifact", "a"))
    put("form", "data_outside", big + fdata("stray"))
    put("form", "too_many_fields", big + b"".join(ftext("parameters.p%d" % i, "v") for i in range(70)))
    put("form", "parse_failure", big + ffield("artifact", "a") + fdata("1") + u8(3))
    put("form", "empty", big)
    put("form", "nul_in_name", big + ffield(b"projectSlug\x00junk", "") + fdata("p"))
    # file names and values that are not text (jansson refuses them when
    # the record is written)
    for i, fn in enumerate([b"a\xffb.bin", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80",
                            b"x\x1b[2J", b"\xf4\x90\x80\x80", "r\u00e9sum\u00e9.bin".encode()]):
        put("form", "filename_text_%d" % i, big + slugs + ffield("artifact", fn) + fdata("z"))
    for name in ("description", "parameters.v", "origin.commitId", "origin.branchName",
                 "origin.repositoryUrl", "projectSlug"):
        put("form", "not_utf8_" + name, big + ftext(name, b"\xff\xfe") + slugs)
    put("form", "nul_in_value", big + ftext("description", b"a\x00b"))
    put("form", "name_not_utf8", big + ftext(b"parameters.\xff", "x"))
    # nothing after the artifact; the policy named before it
    for name in ("signingPolicySlug", "description", "parameters.v", "origin.idToken"):
        put("form", "after_artifact_" + name, big + ftext("projectSlug", "p")
            + ftext("signingPolicySlug", "s") * (name != "signingPolicySlug")
            + ffield("artifact", "a") + fdata("1") + ftext(name, "x"))
    put("form", "artifact_before_policy", big + ftext("projectSlug", "p") + ffield("artifact", "a")
        + fdata("1") + ftext("signingPolicySlug", "s"))
    put("form", "artifact_empty_slugs", big + ftext("projectSlug", "") + ftext("signingPolicySlug", "")
        + ffield("artifact", "a") + fdata("1"))
    # what CivetWeb's multipart parser may hand over: empty chunks, empty
    # parts, a part with no name, a body that ends in the middle of a part
    put("form", "zero_chunks", big + ffield("projectSlug", "") + fdata("") + fdata("") + fdata("p")
        + ftext("signingPolicySlug", "s") + ffield("artifact", "a") + fdata("") + fdata("1")
        + fdata(""))
    put("form", "empty_parts", big + ffield("description", "") + slugs + ffield("artifact", "a"))
    put("form", "no_name", big + ftext("", "x"))
    put("form", "no_name_file", big + slugs + ffield("", "a.bin") + fdata("1"))
    put("form", "ends_mid_part", big + slugs + ffield("artifact", "a") + fdata("12") + u8(3))
    put("form", "ends_mid_text", big + ffield("projectSlug", "") + fdata("p") + u8(3))
    # url-encoded bodies (fz_urlform reads every input as one as well)
    for n, body in [("url_bad_escape", "username=%"), ("url_bad_escape_1", "username=%0"),
                    ("url_bad_escape_zz", "username=%zz"), ("url_nul", "a=%00"),
                    ("url_eq", "="), ("url_amps", "&&&"), ("url_no_eq", "username"),
                    ("url_login", "username=alice&password=p%40ss+word&cookie=true"),
                    ("url_dup", "a=1&a=2"), ("url_ff", "a=%ff"), ("url_name_escape", "%=x"),
                    ("url_trailing_pct", "a=b&c=%"), ("url_raw_nul", "a=b\x00c"),
                    ("url_long_name", "n" * 5000 + "=1"), ("url_long_value", "v=" + "x" * 70000),
                    ("url_many", "&".join("f%d=v" % i for i in range(40))),
                    ("url_pct_run", "a=" + "%" * 300), ("url_pct0", "%0"), ("url_pctzz", "%zz"),
                    ("url_pct", "%"), ("url_eq_amp", "=&="), ("url_plus", "a=+%2B+&b=%e2%82%ac"),
                    ("url_c1", "a=%c2%85"), ("url_overlong", "a=%c0%af")]:
        put("form", n, body)


# --- ID tokens (appliance/origin/origin.c) ------------------------------------

def b64u(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def test_key():
    src = open(os.path.join(HERE, "fuzz_origin.c")).read()
    lines = re.findall(r'^\s*"([A-Za-z0-9+/=-]+[^"]*?)(?:\\n)?"', src.split("fz_ec_pem[] =", 1)[1].split(";", 1)[0], re.M)
    pem = "\n".join(lines) + "\n"
    return serialization.load_pem_private_key(pem.encode(), None)


def jwks_of_c():
    src = open(os.path.join(HERE, "fuzz_origin.c")).read()
    body = src.split("#define FZ_JWKS", 1)[1].split("\n\n", 1)[0]
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', body)
    return json.loads("".join(parts).replace('\\"', '"'))


NOW = 1767225600
SHA = "0123456789abcdef0123456789abcdef01234567"


def sign(key, header, claims):
    h = b64u(header)
    p = b64u(claims)
    der = key.sign((h + "." + p).encode(), ec.ECDSA(hashes.SHA256()))
    r, s = utils.decode_dss_signature(der)
    return h + "." + p + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def jd(o):
    return json.dumps(o, separators=(",", ":"))


def origin():
    key = test_key()
    hdr = jd({"alg": "ES256", "kid": "k1", "typ": "JWT"})
    base = {"iss": "https://token.example.test", "aud": "signet", "iat": NOW - 10,
            "nbf": NOW - 10, "exp": NOW + 300}
    gh = dict(base, repository="example/app", ref="refs/heads/main", sha=SHA,
              run_id="4242", sub="repo:example/app:ref:refs/heads/main",
              workflow_ref="example/app/.github/workflows/b.yml@refs/heads/main")
    gl = dict(base, project_path="example/app", ref="v1.0", ref_type="tag", sha=SHA,
              pipeline_id=77, ref_protected="true", pipeline_source="push")
    gen = dict(base, repo="https://github.com/example/app", ref="refs/tags/v2", sha=SHA.upper(),
               run=12, url="https://ci.example.test/12")
    fields = ["https://github.com/example/app", "main", SHA, "4242", ""]

    def mode(m, preset):
        return u8(m | preset << 2)

    def parts(*p):
        return b"\x00".join(x.encode() if isinstance(x, str) else x for x in p)

    # mode 1: the target signs
    put("origin", "signed_github", mode(1, 0) + parts(hdr, jd(gh), *fields))
    put("origin", "signed_github_fill", mode(1, 0) + parts(hdr, jd(gh)))
    put("origin", "signed_github_mismatch", mode(1, 0) + parts(hdr, jd(gh),
        "https://github.com/evil/app.git/", "refs/heads/dev", SHA.upper(), "1"))
    put("origin", "signed_gitlab_tag", mode(1, 1) + parts(hdr, jd(gl),
        "https://gitlab.example.test/example/app", "refs/tags/v1.0"))
    put("origin", "signed_gitlab_branch", mode(1, 1) + parts(hdr, jd(dict(gl, ref_type="branch", ref="main"))))
    put("origin", "signed_gitlab_no_type", mode(1, 1) + parts(hdr, jd(dict(gl, ref_type=None)), "", "main"))
    put("origin", "signed_generic", mode(1, 2) + parts(hdr, jd(gen), "https://github.com/example/app",
        "refs/tags/v2", SHA, "12", "https://ci.example.test/12"))
    put("origin", "signed_expired", mode(1, 0) + parts(hdr, jd(dict(gh, exp=NOW - 61))))
    put("origin", "signed_future_iat", mode(1, 0) + parts(hdr, jd(dict(gh, iat=NOW + 3600))))
    put("origin", "signed_nbf", mode(1, 0) + parts(hdr, jd(dict(gh, nbf=NOW + 3600))))
    put("origin", "signed_real_times", mode(1, 0) + parts(hdr, jd(dict(gh, exp=1e300, iat=-1e300))))
    put("origin", "signed_aud_list", mode(1, 0) + parts(hdr, jd(dict(gh, aud=["x", "signet"]))))
    put("origin", "signed_wrong_aud", mode(1, 0) + parts(hdr, jd(dict(gh, aud="other"))))
    put("origin", "signed_wrong_iss", mode(1, 0) + parts(hdr, jd(dict(gh, iss="https://evil.test\u00e9" * 20))))
    put("origin", "signed_long_claim", mode(1, 0) + parts(hdr, jd(dict(gh, ref="refs/heads/" + "\u00e9" * 300)),
        "", "main"))
    put("origin", "signed_ctrl_claim", mode(1, 0) + parts(hdr, jd(dict(gh, sha="ab\ncd")), "", "", "abcd"))
    put("origin", "signed_int_claims", mode(1, 0) + parts(hdr, jd(dict(gh, run_id=-9223372036854775807))))
    put("origin", "signed_no_exp", mode(1, 0) + parts(hdr, jd({"iss": base["iss"], "aud": "signet"})))
    put("origin", "signed_array", mode(1, 0) + parts(hdr, "[1]"))
    put("origin", "signed_deep", mode(1, 0) + parts(hdr, '{"a":' * 20 + "1" + "}" * 20))
    put("origin", "signed_dup", mode(1, 0) + parts(hdr, '{"iss":"a","iss":"b"}'))
    put("origin", "hdr_alg_rs", mode(1, 0) + parts(jd({"alg": "RS256", "kid": "k1"}), jd(gh)))
    put("origin", "hdr_kid_rsa", mode(1, 0) + parts(jd({"alg": "RS256", "kid": "r1"}), jd(gh)))
    put("origin", "hdr_crit", mode(1, 0) + parts(jd({"alg": "ES256", "kid": "k1", "crit": ["b64"]}), jd(gh)))
    put("origin", "hdr_no_kid", mode(1, 0) + parts(jd({"alg": "ES256"}), jd(gh)))
    put("origin", "hdr_unknown_kid", mode(1, 0) + parts(jd({"alg": "ES256", "kid": "\u00e9" * 40}), jd(gh)))
    put("origin", "hdr_none", mode(1, 0) + parts(jd({"alg": "none", "kid": "k1"}), jd(gh)))
    put("origin", "hdr_hs256", mode(1, 0) + parts(jd({"alg": "hs256", "kid": "k1"}), jd(gh)))
    # mode 0: raw tokens
    tok = sign(key, hdr, jd(gh))
    put("origin", "raw_valid", mode(0, 0) + parts(tok, *fields))
    put("origin", "raw_bad_sig", mode(0, 0) + parts(tok[:-4] + "AAAA"))
    put("origin", "raw_unsecured", mode(0, 0) + parts(b64u(jd({"alg": "none"})) + "." + b64u(jd(gh)) + "."))
    put("origin", "raw_two_parts", mode(0, 0) + parts("eyJhbGciOiJFUzI1NiJ9.eyJ9"))
    put("origin", "raw_four_parts", mode(0, 0) + parts(tok + ".x"))
    put("origin", "raw_padding", mode(0, 0) + parts(tok.replace(".", "=.", 1)))
    put("origin", "raw_bad_b64", mode(0, 0) + parts("e.e.e"))
    put("origin", "raw_empty", mode(0, 0))
    # mode 2: build system records, then a token against them
    jwks = jwks_of_c()
    bs = {"preset": "generic", "issuer": "https://token.example.test", "audience": "signet",
          "jwks": jwks, "claims": {"repositoryUrl": "repo", "branchName": "ref", "commitId": "sha",
                                   "buildId": "run", "buildUrl": "url"},
          "repositoryUrlPrefix": "https://github.com"}
    put("origin", "bs_generic", mode(2, 0) + parts(jd(bs), sign(key, hdr, jd(gen)), "repo", "refs/tags/v2"))
    put("origin", "bs_github", mode(2, 0) + parts(jd({"preset": "github", "issuer": bs["issuer"],
        "audience": "signet", "jwks": jwks}), tok, *fields))
    put("origin", "bs_no_issuer", mode(2, 0) + parts(jd({"preset": "github"}), tok))
    put("origin", "bs_bad_preset", mode(2, 0) + parts(jd({"preset": "circle"}), tok))
    put("origin", "bs_http_issuer", mode(2, 0) + parts(jd(dict(bs, issuer="http://x")), tok))
    put("origin", "bs_private_key", mode(2, 0) + parts(jd(dict(bs, jwks={"keys": [dict(jwks["keys"][0], d="AAAA")]})), tok))
    put("origin", "bs_dup_kid", mode(2, 0) + parts(jd(dict(bs, jwks={"keys": [jwks["keys"][0]] * 2})), tok))
    put("origin", "bs_oct", mode(2, 0) + parts(jd(dict(bs, jwks={"keys": [{"kty": "oct", "kid": "h", "k": "AAAA"}]})), tok))
    put("origin", "bs_ec_alg_mismatch", mode(2, 0) + parts(jd(dict(bs, jwks={"keys": [dict(jwks["keys"][0], alg="ES384")]})), tok))
    put("origin", "bs_claims_unknown", mode(2, 0) + parts(jd(dict(bs, claims={"\u00e9" * 70: "x"})), tok))
    put("origin", "bs_key_ops", mode(2, 0) + parts(jd(dict(bs, jwks={"keys": [dict(jwks["keys"][0], key_ops=["sign"])]})), tok))
    # mode 3: rules
    rules = {"project": {"slug": "app", "repositoryUrls": ["https://github.com/example/app.git"]},
             "policy": {"slug": "rel", "requireVerifiedOrigin": True,
                        "allowedBranches": ["main", "release/*", "refs/tags/v*"]},
             "origin": {"repositoryUrl": "HTTPS://GITHUB.COM/example/app/", "branchName": "refs/heads/release/1.2"},
             "evidence": {"verified": True}}
    put("origin", "rules_ok", mode(3, 0) + jd(rules).encode())
    put("origin", "rules_unverified", mode(3, 0) + jd(dict(rules, evidence={"verified": False, "reason": "r\u00e9" * 200})).encode())
    put("origin", "rules_repo", mode(3, 0) + jd(dict(rules, origin={"repositoryUrl": "https://x/" + "\u00e9" * 100})).encode())
    put("origin", "rules_branch", mode(3, 0) + jd(dict(rules, origin={"repositoryUrl": "https://github.com/example/app", "branchName": "dev"})).encode())
    put("origin", "rules_long_lists", mode(3, 0) + jd(dict(rules, project={"slug": "a", "repositoryUrls": ["https://e.test/" + "x" * 60] * 5},
        origin={})).encode())
    put("origin", "rules_bad_pattern", mode(3, 0) + jd(dict(rules, policy={"allowedBranches": ["[", ""]})).encode())


# --- audit log export (appliance/core/audit.c) -----------------------------

def canon(e):
    return json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def chain(n, first=1, prev="0" * 64, details=None):
    lines = []
    for i in range(n):
        e = {"seq": first + i, "at": "2026-01-01T00:00:%02dZ" % i,
             "actor": {"type": "user", "name": "admin"}, "action": "user.created",
             "target": "u%d" % i if i % 2 == 0 else None,
             "details": details if details is not None else {"roles": ["auditor"], "n": i},
             "prevHash": prev}
        h = hashlib.sha256(canon(e).encode()).hexdigest()
        e["hash"] = h
        prev = h
        lines.append(canon(e))
    return lines


def audit():
    good = chain(3)
    text = "\n".join(good) + "\n"
    for sel in (0, 1, 3, 4, 8, 12):
        put("audit", "chain_sel%d" % sel, u8(sel) + text.encode())
    put("audit", "anchored", u8(0) + ("\n".join(chain(2, first=41, prev="ab" * 32)) + "\n").encode())
    put("audit", "no_newline", u8(0) + "\n".join(good).encode())
    put("audit", "empty", u8(0))
    put("audit", "blank_line", u8(0) + (good[0] + "\n\n" + good[1]).encode())
    put("audit", "changed", u8(0) + (good[0].replace("auditor", "auditer") + "\n").encode())
    put("audit", "reencoded", u8(0) + (json.dumps(json.loads(good[0])) + "\n").encode())
    put("audit", "gap", u8(0) + (good[0] + "\n" + good[2] + "\n").encode())
    put("audit", "first_prev", u8(0) + (chain(1, prev="1" * 64)[0] + "\n").encode())
    put("audit", "real_details", u8(1) + (chain(1, details={"x": 1.5})[0] + "\n").encode())
    put("audit", "deep_details", u8(1) + (canon({"seq": 1, "at": "t", "actor": {"type": "user", "name": "a"},
        "action": "a.b", "target": None, "details": json.loads('{"a":' * 20 + "1" + "}" * 20),
        "prevHash": "0" * 64, "hash": "0" * 64}) + "\n").encode())
    put("audit", "unicode", u8(3) + (canon({"seq": 1, "at": "t", "actor": {"type": "user", "name": "\u00e9\U0001F600"},
        "action": "a.b", "target": "\u2028", "details": {"k\u00e9": "\x7f/"}, "prevHash": "0" * 64, "hash": ""}) + "\n").encode())
    put("audit", "not_json", u8(0) + b"{\"seq\":1,\n")
    put("audit", "extra_member", u8(1) + (good[0][:-1] + ',"zzz":1}\n').encode())
    put("audit", "seq_zero", u8(1) + (good[0].replace('"seq":1', '"seq":0') + "\n").encode())
    put("audit", "seq_max", u8(3) + (good[0].replace('"seq":1', '"seq":9223372036854775807') + "\n" + good[1] + "\n").encode())
    put("audit", "hash_upper", u8(0) + (good[0].replace(json.loads(good[0])["hash"], json.loads(good[0])["hash"].upper()) + "\n").encode())
    put("audit", "nul_byte", u8(0) + good[0].encode()[:20] + b"\x00" + good[0].encode()[20:])


# --- certificates (appliance/sign/pki.c) -----------------------------------

def certs():
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    ca_key = ec.derive_private_key(0xC0FFEE, ec.SECP256R1())
    leaf_key = ec.derive_private_key(0x1EAF, ec.SECP256R1())

    def name(cn):
        if cn is None:
            return x509.Name([])
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example")])

    def make(subject, issuer, pub, signer, serial, ca=False, days=365):
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
             .public_key(pub).serial_number(serial)
             .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=days))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        return b.sign(signer, hashes.SHA256())

    ca = make(name("Example CA"), name("Example CA"), ca_key.public_key(), ca_key, 1, ca=True)
    leaf = make(name("Signer \u00e9"), name("Example CA"), leaf_key.public_key(), ca_key, 2)
    empty = make(name(None), name(None), leaf_key.public_key(), leaf_key, 3)
    old = make(name("Old"), name("Old"), leaf_key.public_key(), leaf_key, 4, days=20000)  # notAfter after 2049: GeneralizedTime
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
    der = lambda c: c.public_bytes(serialization.Encoding.DER)
    return ca, leaf, empty, old, pem, der


def pki():
    # the certificate with an empty name is left out: pki_name_text on it
    # is undefined behaviour (tests/fuzz/crashes/pki/, README there)
    ca, leaf, _, old, pem, der = certs()
    chain_pem = pem(leaf) + pem(ca)
    p7der = pkcs7.serialize_certificates([leaf, ca], serialization.Encoding.DER)
    p7pem = pkcs7.serialize_certificates([leaf, ca], serialization.Encoding.PEM)
    for sel, tag in ((0, "any"), (1, "pem")):
        put("pki", tag + "_chain", u8(sel) + chain_pem)
        put("pki", tag + "_leaf", u8(sel) + pem(leaf))
        put("pki", tag + "_with_text", u8(sel) + b"subject=CN=x\n" + pem(leaf) + b"trailing text\n")
        put("pki", tag + "_nine", u8(sel) + pem(ca) * 9)
        put("pki", tag + "_broken", u8(sel) + pem(leaf)[:200] + b"\n-----END CERTIFICATE-----\n")
        put("pki", tag + "_key_block", u8(sel) + b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" + pem(ca))
    put("pki", "any_der", u8(0) + der(leaf))
    put("pki", "any_der_trailing", u8(0) + der(leaf) + b"\x00")
    put("pki", "any_der_old", u8(0) + der(old))
    put("pki", "any_p7_der", u8(0) + p7der)
    put("pki", "any_p7_pem", u8(0) + p7pem)
    put("pki", "any_p7_empty", u8(0) + pkcs7.serialize_certificates([ca], serialization.Encoding.DER)[:30])
    put("pki", "any_garbage", u8(0) + b"\x30\x82\xff\xff" + b"\x00" * 8)
    put("pki", "any_empty", u8(0))


# --- the apply document (appliance/core/catalog.c) -------------------------

def catalog():
    docs = {
        "empty": {},
        "unchanged": {"users": [{"name": "admin", "email": "admin@example.test",
                                 "roles": ["administrator", "auditor"]}]},
        "new_user": {"users": [{"name": "dev", "roles": []}, {"name": "x@y", "email": "bad"}]},
        "identity_cert": {"identities": [{"name": "ci-new", "type": "client-certificate",
                                          "subject": "CN=ci-new,O=Example", "issuer": "CN=Example CA,O=Example"}]},
        "identity_fp": {"identities": [{"name": "ci-fp", "type": "client-certificate",
                                        "sha256Fingerprint": "AB" * 32}]},
        "identity_clash": {"identities": [{"name": "admin", "type": "client-certificate",
                                           "subject": "CN=a"}], "users": [{"name": "admin"}]},
        "build_system": {"buildSystems": [{"name": "gl", "identities": ["ci-other"], "preset": "gitlab",
                                           "issuer": "https://gitlab.example.test", "audience": "signet",
                                           "jwks": jwks_of_c()}]},
        "build_system_taken": {"buildSystems": [{"name": "other", "identities": ["ci-runner"]}]},
        "build_system_generic": {"buildSystems": [{"name": "g", "identities": ["ci-other"], "preset": "generic",
                                                   "issuer": "https://i.test", "audience": "a",
                                                   "jwks": jwks_of_c(), "claims": {"commitId": "sha"}}]},
        "project": {"projects": [{"slug": "new-app", "name": "New", "repositoryUrls": ["https://e.test/a"],
                                  "webhooks": [{"url": "https://hooks.example.test/x", "secret": "s3cret"}],
                                  "signingPolicies": [{"slug": "rel", "name": "Release", "certificate": "test-cert",
                                                       "purpose": "test", "requiredApprovals": 1,
                                                       "submitters": ["ci-runner"], "approvers": ["officer"],
                                                       "requireVerifiedOrigin": True,
                                                       "allowedBranches": ["main", "refs/tags/v*"],
                                                       "artifactConfigurations": [{"slug": "exe", "name": "EXE"}]}]}]},
        "project_authenticode": {"projects": [{"slug": "ac-app", "name": "AC", "url": "https://e.test/ac",
                                               "signingPolicies": [{"slug": "ac", "name": "AC",
                                                                    "certificate": "test-cert",
                                                                    "digestAlgorithm": "sha384",
                                                                    "signatureMode": "append",
                                                                    "artifactConfigurations": ["authenticode"]}]}]},
        "project_bad_url": {"projects": [{"slug": "u", "name": "U", "url": "ftp://e.test/\u00e9"}]},
        "policy_bad_digest": {"projects": [{"slug": "d", "name": "D", "signingPolicies": [
            {"slug": "s", "name": "S", "certificate": "test-cert", "digestAlgorithm": "md5",
             "signatureMode": "sideways"}]}]},
        "project_update": {"projects": [{"slug": "app", "name": "App 2", "signingPolicies": [
            {"slug": "test", "name": "Test", "certificate": "test-cert", "purpose": "release"}]}]},
        "policy_missing_cert": {"projects": [{"slug": "p", "name": "P", "signingPolicies": [
            {"slug": "s", "name": "S", "certificate": "nope"}]}]},
        "webhook_file": {"projects": [{"slug": "h", "name": "H", "webhooks": [
            {"url": "https://hooks.example.test/y", "secretFile": "secret.txt"}]}]},
        "certificate": {"certificates": [{"name": "c", "key": "00ff", "purpose": "test", "chainPem": "x"}]},
        "unknown_member": {"users": [], "groups": []},
        "not_lists": {"users": {"name": "a"}},
        "bad_slug": {"projects": [{"slug": "Bad Slug", "name": "x"}]},
        "big_approvals": {"projects": [{"slug": "q", "name": "Q", "signingPolicies": [
            {"slug": "s", "name": "S", "certificate": "test-cert", "requiredApprovals": 9223372036854775807}]}]},
    }
    for n, d in docs.items():
        put("catalog", n, jd(d))
    put("catalog", "duplicate_keys", '{"users":[],"users":[]}')
    put("catalog", "array", "[]")
    put("catalog", "deep", '{"users":[' + "[" * 100 + "]" * 100 + "]}")


def origin_refs():
    """Refs, commits and URLs that look like others (docs/origin.md, "How
    values are compared")."""
    key = test_key()
    hdr = jd({"alg": "ES256", "kid": "k1", "typ": "JWT"})
    base = {"iss": "https://token.example.test", "aud": "signet", "iat": NOW - 10,
            "nbf": NOW - 10, "exp": NOW + 300, "repository": "example/app",
            "sha": SHA, "run_id": "4242"}

    def mode(m, preset):
        return u8(m | preset << 2)

    def parts(*p):
        return b"\x00".join(x.encode() if isinstance(x, str) else x for x in p)

    for name, ref in (("heads", "refs/heads/refs/heads/main"),
                      ("tags", "refs/heads/refs/tags/v9.9.9")):
        gh = jd(dict(base, ref=ref))
        put("origin", f"ref_lookalike_{name}_fill", mode(1, 0) + parts(hdr, gh))
        put("origin", f"ref_lookalike_{name}_short", mode(1, 0) + parts(
            hdr, gh, "", ref[11:]))
        put("origin", f"ref_lookalike_{name}_full", mode(1, 0) + parts(
            hdr, gh, "https://github.com/example/app", ref))
    gl = dict(base, project_path="example/app", ref="refs/heads/main",
              ref_type="branch", pipeline_id=77)
    put("origin", "ref_lookalike_gitlab", mode(1, 1) + parts(hdr, jd(gl), "", "main"))
    put("origin", "ref_invalid", mode(1, 0) + parts(hdr, jd(dict(base, ref="refs/heads/a..b"))))
    put("origin", "commit_short", mode(1, 0) + parts(hdr, jd(dict(base, ref="refs/heads/main")),
        "", "", SHA[:7]))
    put("origin", "commit_not_hex", mode(1, 0) + parts(hdr, jd(dict(base, ref="refs/heads/main",
        sha="z" * 40))))
    for i, url in enumerate(["https://github.com@evil.example/example/app",
                             "https://github.com/example/x/../app",
                             "https://github.com/Example/App",
                             "https://github.com/example/%61pp",
                             "https://github.com/example/app.git.git"]):
        put("origin", f"repo_lookalike_{i}", mode(1, 0) + parts(
            hdr, jd(dict(base, ref="refs/heads/main")), url))
    proj = {"slug": "app", "repositoryUrls": ["https://github.com/example/app"]}
    pol = {"slug": "rel", "allowedBranches": ["main", "refs/tags/v*", "release/*"]}
    for i, (branch, repo) in enumerate([
            ("refs/heads/refs/heads/main", "https://github.com/example/app"),
            ("refs/heads/refs/tags/v9.9.9", "https://github.com/example/app"),
            ("release/1/2", "https://github.com/example/app"),
            ("main", "https://user@github.com/example/app"),
            ("main..x", "https://github.com/example/app/./")]):
        put("origin", f"rules_lookalike_{i}", mode(3, 0) + jd({
            "project": proj, "policy": pol,
            "origin": {"branchName": branch, "repositoryUrl": repo},
            "evidence": {"verified": True, "ref": "refs/heads/main"}}).encode())


def origin_all():
    origin()
    origin_refs()


# --- PowerShell scripts (appliance/sign/formats/ac_script.c) ---------------

def script():
    b64 = base64.b64encode(bytes(range(200))).decode()
    block = ["# SIG # Begin signature block"] + \
        ["# " + b64[i:i + 64] for i in range(0, len(b64), 64)] + \
        ["# SIG # End signature block"]
    text = "param($x)\r\nWrite-Output $x\r\n"
    put("script", "plain_crlf", text)
    put("script", "plain_lf", text.replace("\r\n", "\n"))
    put("script", "one_line", "Write-Output 1")
    put("script", "bom_utf8", "\ufeff# caf\u00e9\r\n")
    put("script", "utf16", ("\ufeff" + text).encode("utf-16-le"))
    put("script", "utf16_astral", "\ufeff# \U0001F600\r\n".encode("utf-16-le"))
    put("script", "block_comment", "<# .SYNOPSIS #>\r\nWrite-Output 1\r\n")
    put("script", "xml", '<?xml version="1.0"?>\r\n<Types/>\r\n')
    signed = text + "\r\n".join(block) + "\r\n"
    put("script", "signed_crlf", signed)
    put("script", "signed_lf", signed.replace("\r\n", "\n"))
    put("script", "signed_utf16", ("\ufeff" + signed).encode("utf-16-le"))
    put("script", "signed_xml", '<Types/>\r\n' + "\r\n".join(
        "<!-- " + l[2:] + " -->" for l in block) + "\r\n")
    put("script", "signed_no_final_break", signed[:-2])
    put("script", "mixed_breaks", text + "\n".join(block) + "\r\n")
    put("script", "block_only", "\r\n".join(block) + "\r\n")
    put("script", "no_end", text + "\r\n".join(block[:-1]) + "\r\n")
    put("script", "text_after", signed + "Write-Output 2\r\n")
    put("script", "end_only", text + block[-1] + "\r\n")
    put("script", "bad_base64", text + block[0] + "\r\n# ***\r\n" + block[-1])
    put("script", "nul", "Write-Output 1\x00\r\n")
    put("script", "bad_utf8", b"Write-Output '\xc3\x28'\r\n")
    put("script", "overlong", b"# \xc0\xaf\r\n")
    put("script", "utf16_odd", b"\xff\xfe#\x00 ")
    put("script", "utf16_lone", b"\xff\xfe\x00\xd8#\x00")
    put("script", "utf16be", b"\xfe\xff\x00#")
    put("script", "long_line", "#" + "x" * 300 + "\r\n" + "\r\n".join(block) + "\r\n")
    put("script", "empty", b"")


# --- time-stamp queries (appliance/sign/tsa_query.c, RFC 3161) -------------

def asn1(tag, body):
    n = len(body)
    if n < 0x80:
        hdr = bytes([n])
    elif n < 0x100:
        hdr = b"\x81" + bytes([n])
    else:
        hdr = b"\x82" + struct.pack(">H", n)
    return bytes([tag]) + hdr + body


def asn1_oid(dotted):
    parts = [int(x) for x in dotted.split(".")]
    out = bytes([40 * parts[0] + parts[1]])
    for v in parts[2:]:
        enc = [v & 0x7F]
        v >>= 7
        while v:
            enc.append(0x80 | (v & 0x7F))
            v >>= 7
        out += bytes(reversed(enc))
    return asn1(0x06, out)


def asn1_int(v):
    b = v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big")
    return asn1(0x02, b)


HASH_OIDS = {"sha256": ("2.16.840.1.101.3.4.2.1", 32),
             "sha384": ("2.16.840.1.101.3.4.2.2", 48),
             "sha512": ("2.16.840.1.101.3.4.2.3", 64),
             "sha1": ("1.3.14.3.2.26", 20),
             "md5": ("1.2.840.113549.2.5", 16)}
TSQ_POLICY = "1.3.6.1.4.1.99999.3161.1"  # fuzz_tsq.c's


def tsreq(h="sha256", mdlen=None, version=1, policy=None, nonce=None,
          cert=False, params=b"\x05\x00", ext=None):
    oid, n = HASH_OIDS[h]
    alg = asn1(0x30, asn1_oid(oid) + params)
    mi = asn1(0x30, alg + asn1(0x04, b"\xab" * (n if mdlen is None else mdlen)))
    body = asn1_int(version) + mi
    if policy:
        body += asn1_oid(policy)
    if nonce is not None:
        body += asn1_int(nonce)
    if cert:
        body += b"\x01\x01\xff"
    if ext is not None:
        body += asn1(0xA0, ext)
    return asn1(0x30, body)


def tsq():
    for h in ("sha256", "sha384", "sha512"):
        put("tsq", h, tsreq(h))
        put("tsq", h + "_cert_nonce", tsreq(h, nonce=0x1122334455667788, cert=True))
    put("tsq", "policy_ours", tsreq(policy=TSQ_POLICY, nonce=7, cert=True))
    put("tsq", "policy_other", tsreq(policy="1.2.3.4"))
    put("tsq", "sha1", tsreq("sha1"))
    put("tsq", "md5", tsreq("md5"))
    put("tsq", "short_imprint", tsreq(mdlen=20))
    put("tsq", "long_imprint", tsreq("sha512", mdlen=65))
    put("tsq", "version2", tsreq(version=2))
    put("tsq", "no_params", tsreq(params=b""))
    put("tsq", "params_octets", tsreq(params=b"\x04\x01\x00"))
    put("tsq", "big_nonce", tsreq(nonce=1 << 512))
    ext = asn1(0x30, asn1_oid("2.5.29.19") + asn1(0x04, b"\x30\x00"))
    put("tsq", "extension", tsreq(ext=ext))
    good = tsreq(nonce=1, cert=True)
    put("tsq", "trailing_byte", good + b"\x00")
    put("tsq", "truncated", good[:-1])
    put("tsq", "long_form_length", b"\x30\x81" + good[1:2] + good[2:])
    put("tsq", "indefinite", b"\x30\x80" + good[2:] + b"\x00\x00")
    put("tsq", "empty", b"")
    put("tsq", "garbage", b"not a time-stamp query\n")
    put("tsq", "too_large", asn1(0x30, b"\x00" * 4096))


# --- compound files, MSI packages (appliance/sign/formats/cfb.c, ac_msi.c)

MSI_CLSID = bytes.fromhex("84100c0000000000c000000000000046")
ENDOFCHAIN, FREESECT, FATSECT = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD


def cfb_name(name):
    return name.encode("utf-16-le") + b"\0\0"


def cfb_key(name):
    # [MS-CFB] 2.6.4: shorter first, then upper-cased code units
    return (len(name), name.upper())


def cfb(children, ss=512, clsid=MSI_CLSID):
    """A compound file of version 3 (ss 512) or 4 (ss 4096). children:
    a list of ("stream", name, bytes) and ("storage", name, clsid, children).
    Returns the bytes and where things are, for breaking them by hand:
    {"entry": id -> offset, "fat": sector -> offset of its FAT entry,
     "minifat": offset of the mini FAT, "start": name -> first sector}."""
    ents = [{"name": "Root Entry", "type": 5, "clsid": clsid, "kids": children}]
    i = 0
    while i < len(ents):  # breadth first: each storage's children in a row
        e = ents[i]
        if e["type"] != 2:
            kids = sorted(e["kids"], key=lambda k: cfb_key(k[1]))
            first = len(ents)
            for k in kids:
                if k[0] == "stream":
                    ents.append({"name": k[1], "type": 2, "data": k[2], "clsid": b"\0" * 16})
                else:
                    ents.append({"name": k[1], "type": 1, "clsid": k[2], "kids": k[3]})

            def tree(lo, hi):
                if lo >= hi:
                    return 0xFFFFFFFF
                mid = (lo + hi) // 2
                ents[mid]["left"] = tree(lo, mid)
                ents[mid]["right"] = tree(mid + 1, hi)
                return mid
            e["child"] = tree(first, len(ents))
        i += 1
    big, mini, start = b"", b"", {}
    fat, minifat = [], []
    for e in ents:
        d = e.get("data")
        if d is None or len(d) == 0:
            e["start"], e["size"] = (ENDOFCHAIN if e["type"] == 2 else 0), 0
            continue
        e["size"] = len(d)
        if len(d) >= 4096:
            n = -(-len(d) // ss)
            e["start"] = len(big) // ss
            fat += [e["start"] + j + 1 for j in range(n - 1)] + [ENDOFCHAIN]
            big += d + b"\0" * (n * ss - len(d))
        else:
            n = -(-len(d) // 64)
            e["start"] = len(mini) // 64
            minifat += [e["start"] + j + 1 for j in range(n - 1)] + [ENDOFCHAIN]
            mini += d + b"\0" * (n * 64 - len(d))
        start[e["name"]] = e["start"]
    nmini_sec = -(-len(mini) // ss)
    ents[0]["start"] = len(big) // ss if mini else ENDOFCHAIN
    ents[0]["size"] = len(mini)
    fat += [len(big) // ss + j + 1 for j in range(nmini_sec - 1)] + ([ENDOFCHAIN] if mini else [])
    mini += b"\0" * (nmini_sec * ss - len(mini))
    mf_bytes = b"".join(struct.pack("<I", v) for v in minifat)
    n_mf = -(-len(mf_bytes) // ss)
    mf0 = len(big) // ss + nmini_sec
    fat += [mf0 + j + 1 for j in range(n_mf - 1)] + ([ENDOFCHAIN] if n_mf else [])
    mf_bytes += b"\xff" * (n_mf * ss - len(mf_bytes))
    per = ss // 128
    n_dir = -(-len(ents) // per)
    dir0 = mf0 + n_mf
    fat += [dir0 + j + 1 for j in range(n_dir - 1)] + [ENDOFCHAIN]
    dirb = b""
    for e in ents:
        nm = cfb_name(e["name"])
        dirb += (nm + b"\0" * (64 - len(nm)) + struct.pack("<HBB", len(nm), e["type"], 1)
                 + struct.pack("<III", e.get("left", 0xFFFFFFFF), e.get("right", 0xFFFFFFFF),
                               e.get("child", 0xFFFFFFFF))
                 + e["clsid"] + b"\0" * 4 + b"\0" * 16
                 + struct.pack("<IQ", e["start"], e["size"]))
    unused = b"\0" * 64 + struct.pack("<HBB", 0, 0, 0) + struct.pack("<III", *[0xFFFFFFFF] * 3) + b"\0" * 48
    dirb += unused * (n_dir * per - len(ents))
    fat0 = dir0 + n_dir
    n_fat = 1
    while (fat0 + n_fat) > n_fat * (ss // 4):
        n_fat += 1
    fat += [FATSECT] * n_fat
    fat += [FREESECT] * (n_fat * (ss // 4) - len(fat))
    fatb = b"".join(struct.pack("<I", v) for v in fat)
    hdr = (bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 16
           + struct.pack("<HHHHH", 0x3E, 3 if ss == 512 else 4, 0xFFFE, 9 if ss == 512 else 12, 6)
           + b"\0" * 6
           + struct.pack("<IIIIIIIII", 0 if ss == 512 else n_dir, n_fat, dir0, 0, 4096,
                         mf0 if n_mf else ENDOFCHAIN, n_mf, ENDOFCHAIN, 0)
           + b"".join(struct.pack("<I", fat0 + j if j < n_fat else FREESECT) for j in range(109)))
    hdr += b"\0" * (ss - len(hdr))
    out = hdr + big + mini + mf_bytes + dirb + fatb
    where = {"entry": lambda i: ss * (dir0 + 1) + 128 * i,
             "fat": lambda s: ss * (fat0 + 1) + 4 * s,
             "minifat": ss * (mf0 + 1), "start": start, "ss": ss}
    return bytearray(out), where


def msi_streams():
    # MSI packs table names into code units of 0x3800..0x4840; a few of
    # those, the summary, a cabinet of whole sectors, and a storage
    tables = "\u4840\u3f3f\u4577\u446c\u3b6a\u45e4\u4824"
    strings = "\u4840\u3f3f\u4577\u446c\u3e6a\u44b2\u482f"
    return [("stream", tables, b"\x01\x00" * 40),
            ("stream", strings, b"\x00" * 8),
            ("stream", "\x05SummaryInformation", b"\xfe\xff" + bytes(range(200))),
            ("stream", "\u3a63\u4335", b"MSCF" + bytes((i * 31) & 0xFF for i in range(6000))),
            ("stream", "empty", b""),
            ("storage", "\u4840\u4132\u4467", bytes.fromhex("82100c0000000000c000000000000046"),
             [("stream", "inner", b"in" * 100), ("stream", "\x05SummaryInformation", b"x" * 5000)])]


def put32(b, off, v):
    b[off:off + 4] = struct.pack("<I", v)


def msi():
    ok, w = cfb(msi_streams())
    put("msi", "valid_v3", bytes(ok))
    put("msi", "valid_v4", bytes(cfb(msi_streams(), ss=4096)[0]))
    put("msi", "minimal", bytes(cfb([("stream", "a", b"x")])[0]))
    put("msi", "root_only", bytes(cfb([])[0]))
    put("msi", "office_clsid", bytes(cfb(msi_streams(), clsid=b"\0" * 16)[0]))
    signed = msi_streams() + [("stream", "\x05DigitalSignature", b"\x30\x03\x02\x01\x01"),
                              ("stream", "\x05MsiDigitalSignatureEx", b"\x11" * 32)]
    put("msi", "signed_garbage", bytes(cfb(signed)[0]))
    # broken by hand, each in one structure
    cab = w["start"]["\u3a63\u4335"]
    b = bytearray(ok); put32(b, w["fat"](cab), cab); put("msi", "chain_loop", bytes(b))
    b = bytearray(ok); put32(b, w["fat"](cab), 0x00100000); put("msi", "chain_out_of_range", bytes(b))
    b = bytearray(ok); put32(b, w["fat"](cab + 3), ENDOFCHAIN); put("msi", "chain_short", bytes(b))
    b = bytearray(ok); put32(b, w["minifat"], 0); put("msi", "mini_chain_loop", bytes(b))
    top = struct.unpack("<I", ok[w["entry"](0) + 76:w["entry"](0) + 80])[0]
    b = bytearray(ok); put32(b, w["entry"](top) + 68, top); put("msi", "directory_loop", bytes(b))
    b = bytearray(ok); put32(b, w["entry"](top) + 72, 0); put("msi", "directory_to_root", bytes(b))
    b = bytearray(ok); put32(b, w["entry"](top) + 76, 99999); put("msi", "child_out_of_range", bytes(b))
    b = bytearray(ok); b[w["entry"](top) + 64] = 63; put("msi", "name_odd", bytes(b))
    b = bytearray(ok); put32(b, w["entry"](top) + 120, 1 << 20); put("msi", "size_past_chain", bytes(b))
    b = bytearray(ok); put32(b, 44, 100000); put("msi", "fat_count", bytes(b))
    b = bytearray(ok); b[0] = 0x4D; put("msi", "bad_magic", bytes(b))
    put("msi", "truncated_header", bytes(ok[:300]))
    put("msi", "truncated", bytes(ok[:len(ok) // 2]))
    put("msi", "empty", b"")
    # storages nested SIGNET_MAX_CFB_DEPTH (16) deep, and one more
    for depth, tag in ((16, "deep_16"), (17, "deep_17")):
        kids = [("stream", "leaf", b"deep")]
        for i in range(depth):
            kids = [("storage", f"s{i}", b"\0" * 16, kids)]
        put("msi", tag, bytes(cfb(kids)[0]))


# --- cabinets ([MS-CAB]; the Authenticode reserve of ac_cab.c) --------

def le16(v):
    return struct.pack("<H", v & 0xFFFF)


def le32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def der(tag, content):
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(ln)]) + ln + content


def empty_signed_data():
    """ContentInfo { signedData, [0] SignedData { 1, {}, { data }, {} } }"""
    oid_data = der(0x06, bytes.fromhex("2a864886f70d010701"))
    oid_signed = der(0x06, bytes.fromhex("2a864886f70d010702"))
    sd = der(0x30, der(0x02, b"\x01") + der(0x31, b"") + der(0x30, oid_data) + der(0x31, b""))
    return der(0x30, oid_signed + der(0xA0, sd))


def make_cab(folders, block=64, set_id=0x1234):
    """folders: a list of (typeCompress, [(name, data), ...]); stored
    CFDATA blocks of at most `block` bytes, checksum 0."""
    nfiles = sum(len(f) for _, f in folders)
    coff_files = 36 + 8 * len(folders)
    entries = b""
    for i, (_, files) in enumerate(folders):
        off = 0
        for name, data in files:
            entries += le32(len(data)) + le32(off) + le16(i) + le16(0x5A21) + le16(0) + le16(0x20) + name + b"\0"
            off += len(data)
    start = coff_files + len(entries)
    folder_entries = b""
    blocks = b""
    for typ, files in folders:
        data = b"".join(d for _, d in files)
        chunks = [data[i:i + block] for i in range(0, len(data), block)]
        folder_entries += le32(start + len(blocks)) + le16(len(chunks)) + le16(typ)
        for c in chunks:
            blocks += le32(0) + le16(len(c)) + le16(len(c)) + c
    total = start + len(blocks)
    hdr = (b"MSCF" + le32(0) + le32(total) + le32(0) + le32(coff_files) + le32(0) + bytes([3, 1])
           + le16(len(folders)) + le16(nfiles) + le16(0) + le16(set_id) + le16(0))
    return hdr + folder_entries + entries + blocks


def sign_cab(cab, sig):
    """The cabinet with the signature reserve inserted and sig after it,
    as ac_cab.c and osslsigncode write it."""
    nfolders = struct.unpack("<H", cab[26:28])[0]
    total = struct.unpack("<I", cab[8:12])[0] + 24
    pad = (8 - len(sig) % 8) % 8
    hdr = (cab[0:8] + le32(total) + cab[12:16] + le32(struct.unpack("<I", cab[16:20])[0] + 24) + cab[20:30]
           + le16(struct.unpack("<H", cab[30:32])[0] | 4) + cab[32:36]
           + le16(20) + b"\0\0" + le32(0x00100000) + le32(total) + le32(len(sig) + pad) + bytes(8))
    folders = b""
    for i in range(nfolders):
        f = cab[36 + 8 * i:44 + 8 * i]
        folders += le32(struct.unpack("<I", f[0:4])[0] + 24) + f[4:8]
    return hdr + folders + cab[36 + 8 * nfolders:] + sig + bytes(pad)


def patch(b, off, v):
    return b[:off] + v + b[off + len(v):]


def cab():
    text = b"a cabinet's first file\n"
    data = bytes((i * 7 + 3) & 0xFF for i in range(300))
    one = make_cab([(0, [(b"a.txt", text), (b"b.bin", data)])])
    sig = empty_signed_data()
    signed = sign_cab(one, sig)
    put("cab", "unsigned", one)
    put("cab", "unsigned_empty", make_cab([]))
    put("cab", "unsigned_two_folders", make_cab([(0, [(b"a.txt", text)]), (1, [(b"dir\\b.bin", data)])]))
    put("cab", "unsigned_mszip_typed", make_cab([(1, [(b"z.txt", text * 4)])], block=32))
    put("cab", "unsigned_lzx_typed", make_cab([(0x1503, [(b"l.txt", text)])]))
    put("cab", "unsigned_long_name", make_cab([(0, [(b"n" * 255, text)])]))
    put("cab", "signed", signed)
    put("cab", "signed_two_folders", sign_cab(make_cab([(0, [(b"a", text)]), (0, [(b"b", data)])]), sig))
    put("cab", "signed_sig_aligned", sign_cab(one, sig + bytes(3)))
    put("cab", "signed_other_sig", sign_cab(one, der(0x30, der(0x06, bytes.fromhex("2a864886f70d010701")))))
    # broken ones
    put("cab", "truncated_header", one[:20])
    put("cab", "magic_only", b"MSCF")
    put("cab", "bad_magic", patch(one, 0, b"MSCE"))
    put("cab", "reserved1", patch(one, 4, le32(1)))
    put("cab", "cbcabinet_short", patch(one, 8, le32(len(one) - 1)))
    put("cab", "cbcabinet_long", patch(one, 8, le32(len(one) + 1)))
    put("cab", "version", patch(one, 24, bytes([4, 1])))
    put("cab", "folders_over_limit", patch(one, 26, le16(4097)))
    put("cab", "files_over_limit", patch(one, 28, le16(32769)))
    put("cab", "files_max", patch(one, 28, le16(0xFFFF)))
    put("cab", "multi_cabinet", patch(one, 30, le16(3)))
    put("cab", "unknown_flags", patch(one, 30, le16(0x8000)))
    put("cab", "icabinet", patch(one, 34, le16(2)))
    put("cab", "reserve_other", patch(one, 30, le16(4)))
    put("cab", "coff_files_wrong", patch(one, 16, le32(45)))
    put("cab", "folder_past_end", patch(one, 36, le32(len(one) + 100)))
    put("cab", "folder_in_entries", patch(one, 36, le32(50)))
    put("cab", "folder_compress_bad", patch(one, 42, le16(9)))
    put("cab", "folder_blocks_many", patch(one, 40, le16(0xFFFF)))
    put("cab", "file_folder_continued", patch(one, 44 + 8, le16(0xFFFE)))
    put("cab", "file_name_empty", patch(one, 44 + 16, b"\0"))
    put("cab", "file_name_unterminated", patch(one[:44 + 16 + 3], 8, le32(44 + 16 + 3)))
    put("cab", "file_entry_cut", patch(one[:44 + 10], 8, le32(44 + 10)))
    put("cab", "file_name_too_long", make_cab([(0, [(b"n" * 300, text)])]))
    put("cab", "sig_outside", patch(signed, 48, le32(len(signed))))
    put("cab", "sig_pos_huge", patch(signed, 44, le32(0x7FFF0000)))
    put("cab", "sig_not_at_end", signed + bytes(8))
    put("cab", "sig_short", patch(signed, 48, le32(8)))
    put("cab", "sig_empty", patch(patch(signed, 44, le32(0)), 48, le32(0)))
    put("cab", "sig_in_header", patch(patch(signed, 44, le32(8)), 48, le32(len(signed) - 8)))
    put("cab", "sig_cbcabinet", patch(signed, 8, le32(len(one))))
    put("cab", "sig_magic", patch(signed, 40, le32(0x00200000)))
    put("cab", "sig_pad_field", patch(signed, 52, b"\1"))
    put("cab", "sig_not_pkcs7", patch(signed, len(signed) - 40, b"\xff"))
    put("cab", "sig_junk_padding", signed[:-1] + b"\x55")
    put("cab", "sig_truncated", signed[:-16])


# --- PE/COFF images for Authenticode (appliance/sign/formats/ac_pe.c) --

def pe_image(plus=True, machine=0x8664, subsystem=3, nsect=2, nrva=16,
             lfanew=0x40, overlay=b"", certs=None, opt_size=None):
    """A small PE image laid out as the PE/COFF specification says: the
    DOS header, the PE headers, raw data of 0x200 bytes a section, any
    overlay, then (certs: a list of (dwLength, revision, type, bytes)) the
    certificate table on an 8-byte boundary."""
    dirs = 112 if plus else 96
    if opt_size is None:
        opt_size = dirs + 8 * nrva
    hdr_end = lfanew + 24 + opt_size + 40 * nsect
    soh = (hdr_end + 0x1FF) // 0x200 * 0x200
    dos = bytearray(lfanew)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, lfanew)
    coff = b"PE\0\0" + struct.pack("<HHIIIHH", machine, nsect, 0, 0, 0, opt_size, 0x0022)
    opt = bytearray(opt_size)
    if opt_size >= 2:
        struct.pack_into("<H", opt, 0, 0x20B if plus else 0x10B)
    if opt_size >= dirs:
        struct.pack_into("<II", opt, 32, 0x1000, 0x200)    # alignments
        struct.pack_into("<II", opt, 56, 0x1000 * (nsect + 1), soh)
        struct.pack_into("<H", opt, 68, subsystem)
        struct.pack_into("<I", opt, dirs - 4, nrva)
    sects = b""
    for i in range(nsect):
        sects += struct.pack("<8sIIIIIIHHI", b".s%d" % i, 0x200, 0x1000 * (i + 1),
                             0x200, soh + 0x200 * i, 0, 0, 0, 0, 0x60000020)
    img = bytearray(bytes(dos) + coff + bytes(opt) + sects)
    img += bytes(soh - len(img))
    for i in range(nsect):
        img += bytes([(0xC3 + i) % 256]) * 0x200
    img += overlay
    if certs is not None:
        img += bytes(-len(img) % 8)
        table = b""
        for dwlen, rev, typ, blob in certs:
            entry = struct.pack("<IHH", dwlen, rev, typ) + blob
            table += entry + bytes(-len(entry) % 8)
        if opt_size >= dirs + 8 * 5:
            struct.pack_into("<II", img, lfanew + 24 + dirs + 32, len(img), len(table))
        img += table
    return bytes(img)


def pe():
    p7 = bytes.fromhex("3003020105")        # a DER SEQUENCE
    p7b = bytes.fromhex("30060201070201ff")
    one = [(8 + len(p7), 0x200, 2, p7)]
    put("pe", "pe32plus", pe_image())
    put("pe", "pe32", pe_image(plus=False, machine=0x14C))
    put("pe", "arm64", pe_image(machine=0xAA64))
    put("pe", "arm", pe_image(plus=False, machine=0x1C4))
    put("pe", "efi_app", pe_image(subsystem=10))
    put("pe", "no_sections", pe_image(nsect=0))
    put("pe", "overlay_odd", pe_image(overlay=b"overlay" * 11))
    put("pe", "signed", pe_image(certs=one))
    put("pe", "signed_pe32", pe_image(plus=False, machine=0x14C, certs=one))
    put("pe", "signed_overlay", pe_image(overlay=b"\x01\x02\x03", certs=one))
    # dwLength with its padding (signtool) and without (sbsign)
    put("pe", "signed_two", pe_image(certs=[(16, 0x200, 2, p7), (8 + len(p7b), 0x200, 2, p7b)]))
    put("pe", "signed_not_der", pe_image(certs=[(12, 0x200, 2, b"\xff\xff\xff\xff")]))
    # existing() reads the first, the walk also the second (a find)
    put("pe", "signed_second_not_der", pe_image(certs=[(16, 0x200, 2, p7),
                                                       (16, 0x200, 2, bytes.fromhex("3046020107020101"))]))
    # what check() refuses
    put("pe", "empty", b"")
    put("pe", "not_pe", b"#!/bin/sh\necho signet\n")
    put("pe", "dos_truncated", pe_image()[:40])
    put("pe", "lfanew_past_end", pe_image(lfanew=0x40)[:0x3C] + struct.pack("<I", 0x10000) + bytes(64))
    put("pe", "lfanew_unaligned", bytearray(pe_image()[:0x3C]) + struct.pack("<I", 0x42) + bytes(600))
    bad = bytearray(pe_image())
    bad[0x41] = ord("X")
    put("pe", "bad_signature", bytes(bad))
    put("pe", "machine_unknown", pe_image(machine=0x0200))
    put("pe", "sections_over_limit", pe_image(nsect=97))
    put("pe", "opt_too_small", pe_image(opt_size=64))
    put("pe", "opt_too_small_for_dirs", pe_image(opt_size=112 + 8 * 5, nrva=16))
    put("pe", "no_security_dir", pe_image(nrva=4))
    put("pe", "too_many_dirs", pe_image(nrva=17))
    put("pe", "truncated_sections", pe_image()[:0x200 + 0x100])
    bad = bytearray(pe_image())
    struct.pack_into("<I", bad, 0x40 + 24 + 240 + 20, 0x10000)  # PointerToRawData
    put("pe", "section_past_end", bytes(bad))
    put("pe", "cert_not_at_end", pe_image(certs=one) + bytes(8))
    put("pe", "cert_past_end", pe_image(certs=one)[:-8])
    bad = bytearray(pe_image(certs=one))
    dd = 0x40 + 24 + 112 + 32
    off = struct.unpack_from("<I", bad, dd)[0]
    struct.pack_into("<II", bad, dd, off + 4, len(bad) - off - 4)
    put("pe", "cert_unaligned", bytes(bad))
    put("pe", "wincert_short", pe_image(certs=[(4, 0x200, 2, p7)]))
    put("pe", "wincert_long", pe_image(certs=[(0x1000, 0x200, 2, p7)]))
    put("pe", "wincert_empty", pe_image(certs=[(8, 0x200, 2, b"")]))
    put("pe", "wincert_revision", pe_image(certs=[(8 + len(p7), 0x100, 2, p7)]))
    put("pe", "wincert_type", pe_image(certs=[(8 + len(p7), 0x200, 1, p7)]))
    bad = bytearray(pe_image(certs=one))
    struct.pack_into("<I", bad, dd + 4, struct.unpack_from("<I", bad, dd + 4)[0] + 4)
    put("pe", "wincert_header_cut", bytes(bad) + bytes(4))



# --- time-stamp replies (appliance/sign/tsa_reply.c, RFC 3161) -------------

def tsr_token(status=0, token=None, text=None, fail=None):
    si = asn1_int(status)
    if text is not None:
        si += asn1(0x30, asn1(0x0C, text.encode()))
    if fail is not None:
        si += asn1(0x03, bytes([7, fail]))
    body = asn1(0x30, si)
    if token is not None:
        body += token
    return asn1(0x30, body)


def tsr_granted_by_openssl():
    """A real granted reply to fuzz_tsr.c's query (SHA-256 of "fuzz",
    nonce 1, certReq) from a throwaway TSA of openssl's own: it must be
    refused, since it does not chain to the target's CA."""
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        def sh(*a):
            subprocess.run(a, cwd=d, check=True, capture_output=True)
        sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
           "ec_paramgen_curve:P-256", "-nodes", "-keyout", "tsa.key",
           "-out", "tsa.pem", "-days", "36500", "-subj", "/CN=Other TSA",
           "-addext", "extendedKeyUsage=critical,timeStamping")
        with open(os.path.join(d, "q.tsq"), "wb") as f:
            oid, n = HASH_OIDS["sha256"]
            alg = asn1(0x30, asn1_oid(oid) + b"\x05\x00")
            mi = asn1(0x30, alg + asn1(0x04, hashlib.sha256(b"fuzz").digest()))
            f.write(asn1(0x30, asn1_int(1) + mi + asn1_int(1) + b"\x01\x01\xff"))
        with open(os.path.join(d, "ts.cnf"), "w") as f:
            f.write("[tsa]\ndefault_tsa = t\n[t]\nserial = serial\n"
                    "default_policy = 1.2.3.4\ndigests = sha256\n"
                    "signer_digest = sha256\ness_cert_id_alg = sha256\n")
        with open(os.path.join(d, "serial"), "w") as f:
            f.write("01\n")
        sh("openssl", "ts", "-reply", "-config", "ts.cnf", "-queryfile",
           "q.tsq", "-signer", "tsa.pem", "-inkey", "tsa.key", "-out",
           "r.tsr")
        with open(os.path.join(d, "r.tsr"), "rb") as f:
            return f.read()


def tsr():
    put("tsr", "empty", b"")
    put("tsr", "garbage", b"\x30\x03\x02\x01\x00 this is not a reply")
    put("tsr", "rejection", tsr_token(2, text="badAlg", fail=0x80))
    put("tsr", "waiting", tsr_token(3))
    put("tsr", "granted_no_token", tsr_token(0))
    put("tsr", "granted_junk_token", tsr_token(0, token=asn1(0x30,
        asn1_oid("1.2.840.113549.1.7.2") + asn1(0xA0, asn1(0x30, b"")))))
    real = tsr_granted_by_openssl()
    put("tsr", "granted_other_ca", real)
    put("tsr", "granted_trailing", real + b"\x00")
    put("tsr", "granted_truncated", real[:-7])


# --- multipart/form-data (web/multipart.c) ----------------------------

def mp_seed(reads, ct, body):
    """Byte 0: read size (low 7 bits, 0 = all at once), bit 7 stops at the
    third part; then the Content-Type line, then the body."""
    return u8(reads) + ct.encode() + b"\n" + body


def mp_part(b, name, value, filename=None, extra=b""):
    cd = b'Content-Disposition: form-data; name="' + name + b'"'
    if filename is not None:
        cd += b'; filename="' + filename + b'"'
    return b"--" + b + b"\r\n" + cd + b"\r\n" + extra + b"\r\n" + value + b"\r\n"


def multipart():
    b = b"------------------------d74496d66958873e"
    ct = "multipart/form-data; boundary=" + b.decode()
    curl = (mp_part(b, b"projectSlug", b"demo-app") + mp_part(b, b"signingPolicySlug", b"test-signing")
            + mp_part(b, b"artifact", b"MZ\x90\x00\r\n--" + b[:-1] + b"\x00\xff", b"app.exe",
                      b"Content-Type: application/octet-stream\r\n")
            + b"--" + b + b"--\r\n")
    for reads in (0, 1, 7, 64, 127):
        put("multipart", "curl_reads_%d" % reads, mp_seed(reads, ct, curl))
    put("multipart", "curl_stop_third", mp_seed(0x80 | 5, ct, curl))
    wk = b"----WebKitFormBoundary7MA4YWxkTrZu0gW"
    browser = (mp_part(wk, b"projectSlug", b"demo-app") + mp_part(wk, b"description", b"line\r\nline")
               + mp_part(wk, b"artifact", b"\x00" * 300, b"a%22b%0D%0A.bin") + b"--" + wk + b"--\r\n")
    put("multipart", "browser", mp_seed(16, "multipart/form-data; boundary=" + wk.decode(), browser))
    put("multipart", "preamble_epilogue", mp_seed(3, 'multipart/form-data; boundary="a b"',
                                                  b"preamble\r\n--a b  \r\nContent-Disposition: form-data; "
                                                  b"name=x\r\n\r\nv\r\n--a b--\r\nepilogue"))
    put("multipart", "cut_short", mp_seed(5, ct, curl[:-20]))
    put("multipart", "cut_in_headers", mp_seed(5, ct, curl[:60]))
    put("multipart", "goes_on", mp_seed(9, ct, mp_part(b, b"a", b"x") + b"--" + b + b"X\r\n"))
    put("multipart", "no_disposition", mp_seed(0, "multipart/form-data; boundary=b",
                                              b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--"))
    put("multipart", "no_headers", mp_seed(0, "multipart/form-data; boundary=b", b"--b\r\n\r\nx\r\n--b--"))
    put("multipart", "two_names", mp_seed(2, "multipart/form-data; boundary=b",
                                         b"--b\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\nx\r\n--b--"))
    put("multipart", "escapes", mp_seed(4, "multipart/form-data; boundary=b",
                                       b'--b\r\nContent-Disposition: form-data; name="a\\"b"; filename="c:\\\\x"\r\n'
                                       b"\r\nx\r\n--b--"))
    put("multipart", "unclosed_quote", mp_seed(4, "multipart/form-data; boundary=b",
                                              b'--b\r\nContent-Disposition: form-data; name="a\r\n\r\nx\r\n--b--'))
    put("multipart", "folded", mp_seed(1, "multipart/form-data; boundary=b",
                                      b"--b\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\nx\r\n--b--"))
    put("multipart", "nul_in_header", mp_seed(1, "multipart/form-data; boundary=b",
                                             b'--b\r\nContent-Disposition: form-data; name="a\x00"\r\n\r\nx\r\n--b--'))
    put("multipart", "base64", mp_seed(8, "multipart/form-data; boundary=b",
                                      b"--b\r\nContent-Disposition: form-data; name=a\r\n"
                                      b"Content-Transfer-Encoding: base64\r\n\r\neA==\r\n--b--"))
    put("multipart", "long_header", mp_seed(100, "multipart/form-data; boundary=b",
                                           b"--b\r\nContent-Disposition: form-data; name=a\r\nX: " + b"v" * 8300
                                           + b"\r\n\r\nx\r\n--b--"))
    put("multipart", "long_preamble", mp_seed(127, "multipart/form-data; boundary=b", b"p" * 70000 + b"\r\n--b--"))
    put("multipart", "empty_body", mp_seed(0, ct, b""))
    put("multipart", "no_boundary", mp_seed(0, "multipart/form-data; charset=utf-8", curl))
    put("multipart", "boundary_too_long", mp_seed(0, "multipart/form-data; boundary=" + "b" * 71, curl))
    put("multipart", "two_boundaries", mp_seed(0, "multipart/form-data; boundary=a; boundary=b", curl))
    put("multipart", "not_form_data", mp_seed(0, "multipart/mixed; boundary=b", curl))
    put("multipart", "bare_lf", mp_seed(0, "multipart/form-data; boundary=b",
                                       b"--b\nContent-Disposition: form-data; name=a\n\nx\n--b--\n"))


TARGETS = {"script": script, "multipart": multipart, "khproto": khproto, "consproto": consproto, "form": form, "origin": origin_all,
           "audit": audit, "pki": pki, "catalog": catalog, "cab": cab, "msi": msi,
           "pe": pe, "tsq": tsq, "tsr": tsr}


def main():
    # SIGNET_CORPUS=form,...: only these targets' seeds
    only = [t for t in os.environ.get("SIGNET_CORPUS", "").split(",") if t]
    for t, fn in TARGETS.items():
        if only and t not in only:
            continue
        shutil.rmtree(os.path.join(OUT, t), ignore_errors=True)
        fn()


if __name__ == "__main__":
    main()
