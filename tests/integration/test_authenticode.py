"""Authenticode, embedded in the file: PowerShell scripts submitted with
authenticode-script and with authenticode (chosen from the content), signed
through the token, downloaded and verified with osslsigncode; SHA-384
policies, replace and append (nested) modes, a file the certificate signed
already, and malformed files refused at submission with nothing kept."""

import json
import re
import shutil
import subprocess

import pytest

from conftest import run, sha256

PROJECT = "ac-app"
URL = "https://signet.test/ac-app"


def tool(name):
    path = shutil.which(name)
    # a missing tool fails the test: a skipped verification proves nothing
    assert path, f"{name} is not installed (scripts/deps.sh)"
    return path


@pytest.fixture(scope="module")
def ac(instance, tmp_path_factory):
    """A project with Authenticode policies on the release certificate
    (codeSigning, issued by pki/release-ca.pem) and one on the test one."""
    doc = json.loads((instance.dir / "appliance.json").read_text())
    for c in doc["certificates"]:
        c["chainFile"] = str(instance.dir / c["chainFile"])

    def pol(slug, cert="release-signing", **kw):
        p = {"slug": slug, "name": slug, "certificate": cert,
             "requiredApprovals": 0, "submitters": ["ci-runner"],
             "approvers": [],
             "artifactConfigurations": ["authenticode", "authenticode-script",
                                        "authenticode-cab", "authenticode-msi",
                                        "authenticode-pe"]}
        p.update(kw)
        return p

    doc["projects"].append({
        "slug": PROJECT, "name": "AC App", "repositoryUrls": [], "url": URL,
        "signingPolicies": [
            pol("ac"),
            pol("ac384", digestAlgorithm="sha384"),
            pol("ac-append", signatureMode="append"),
            pol("ac-replace", signatureMode="replace"),
            pol("ac-test", cert="test-signing"),
            pol("cms-only", artifactConfigurations=["detached-cms"]),
            pol("ac-ts", timestamp="builtin"),
            pol("ac-approve", requiredApprovals=1, approvers=["officer"]),
        ]})
    path = tmp_path_factory.mktemp("ac") / "ac.json"
    path.write_text(json.dumps(doc))
    instance.signet("apply", str(path))
    both = tmp_path_factory.mktemp("ca") / "both.pem"
    both.write_bytes((instance.pki / "release-ca.pem").read_bytes() +
                     (instance.pki / "test-signing.pem").read_bytes())
    return {"root": instance.pki / "release-ca.pem",
            "test_root": instance.pki / "test-signing.pem", "both": both}


SCRIPT = ("# Signet test script\r\n"
          "param([string]$Name = 'world')\r\n"
          "Write-Output \"Hello, $Name\"\r\n")


def sign(instance, data, name="hello.ps1", policy="ac",
         conf="authenticode-script", fields=None):
    f = {"artifactConfigurationSlug": conf}
    f.update(fields or {})
    r = instance.submit(data, project=PROJECT, policy=policy, filename=name,
                        fields=f)
    rid = r.json()["id"]
    req = instance.wait_final(rid)
    assert req["status"] == "Completed", req
    signed = instance.session().get(
        instance.api(f"/signing-requests/{rid}/signed-artifact"))
    assert signed.status_code == 200, signed.text
    return req, signed


def verify(path, ca, check=True):
    v = run([tool("osslsigncode"), "verify", "-CAfile", str(ca),
             "-in", str(path)], check=False)
    out = v.stdout + v.stderr
    if check:
        assert v.returncode == 0, out
        assert "Signature verification: ok" in out, out
    return v.returncode, out


def test_script_signed_and_verified(instance, ac, tmp_path):
    data = SCRIPT.encode()
    req, signed = sign(instance, data, fields={
        "parameters.programName": "Signet Hello"})
    # the file keeps its name; a text media type
    assert req["signedArtifact"]["name"] == "hello.ps1", req
    assert signed.headers["Content-Type"] == "text/plain"
    assert 'filename="hello.ps1"' in signed.headers["Content-Disposition"]
    assert req["artifactConfigurationSlug"] == "authenticode-script"
    a = req["authenticode"]
    assert a["format"] == "authenticode-script"
    assert a["digestAlgorithm"] == "sha256"
    assert len(a["digest"]) == 64
    assert a["signatureMode"] == "replace"
    assert a["programName"] == "Signet Hello"
    assert req["unsignedArtifact"]["sha256"] == sha256(data)
    body = signed.content
    assert body.startswith(data)
    assert b"\r\n# SIG # Begin signature block\r\n" in body
    assert body.endswith(b"# SIG # End signature block\r\n")
    out = tmp_path / "hello.ps1"
    out.write_bytes(body)
    rc, text = verify(out, ac["root"])
    # SpcSpOpusInfo: the program name and the project's url
    assert "Signet Hello" in text, text
    assert URL in text, text
    # the digest recorded at submission is the one in the signature
    assert a["digest"] in text.lower().replace(" ", ""), text

    # a changed byte of the text fails verification
    bad = bytearray(body)
    bad[body.index(b"Hello")] ^= 0x20
    out2 = tmp_path / "bad.ps1"
    out2.write_bytes(bytes(bad))
    rc, text = verify(out2, ac["root"], check=False)
    assert rc != 0, text


def test_authenticode_chooses_script(instance, ac, tmp_path):
    # LF line breaks and UTF-8 with a BOM: the block follows the file's own
    data = b"\xef\xbb\xbf# caf\xc3\xa9\nWrite-Output 1\n"
    req, signed = sign(instance, data, name="tool.psm1", conf="authenticode")
    assert req["artifactConfigurationSlug"] == "authenticode"
    assert req["authenticode"]["format"] == "authenticode-script"
    body = signed.content
    assert b"\n# SIG # Begin signature block\n" in body
    assert b"\r\n" not in body
    out = tmp_path / "tool.psm1"
    out.write_bytes(body)
    verify(out, ac["root"])


def test_authenticode_script_beginning_with_mz(instance, ac, tmp_path):
    """Text that begins with "MZ" is no PE image (its e_lfanew would be
    text): authenticode picks the script."""
    data = (b"MZ = 'Mozambique'\r\nWrite-Output $MZ\r\n" +
            b"# padding\r\n" * 60)
    req, signed = sign(instance, data, name="mz.ps1", conf="authenticode")
    assert req["authenticode"]["format"] == "authenticode-script"
    out = tmp_path / "mz.ps1"
    out.write_bytes(signed.content)
    verify(out, ac["root"])


def test_utf16_script(instance, ac, tmp_path):
    data = "\ufeff# utf-16\r\nWrite-Output 'x'\r\n".encode("utf-16-le")
    req, signed = sign(instance, data, name="u16.ps1", conf="authenticode")
    assert req["authenticode"]["format"] == "authenticode-script"
    body = signed.content
    assert "# SIG # Begin signature block".encode("utf-16-le") in body
    out = tmp_path / "u16.ps1"
    out.write_bytes(body)
    verify(out, ac["root"])


@pytest.mark.parametrize("data", [
    b"Write-Output 'lf'\nWrite-Output 'then a bare CR'\r",
    "\ufeffWrite-Output 'lf'\nWrite-Output 'cr'\r".encode("utf-16-le"),
], ids=["utf8", "utf16"])
def test_script_ending_in_a_bare_cr(instance, ac, tmp_path, data):
    """A script of LF lines whose text ends in a CR: the block follows it
    with CRLF breaks, so the CR stays part of the signed text, osslsigncode
    verifies the file, and Signet reads its own block back (the signed
    file submitted again is taken, and found signed already)."""
    req, signed = sign(instance, data, name="cr.ps1", conf="authenticode")
    assert req["authenticode"]["format"] == "authenticode-script"
    body = signed.content
    assert body.startswith(data)
    out = tmp_path / "cr.ps1"
    out.write_bytes(body)
    verify(out, ac["root"])
    _, again = sign(instance, body, name="cr.ps1", conf="authenticode")
    assert again.content == body


def test_sha384_policy(instance, ac, tmp_path):
    req, signed = sign(instance, SCRIPT.encode(), policy="ac384")
    assert req["authenticode"]["digestAlgorithm"] == "sha384"
    assert len(req["authenticode"]["digest"]) == 96
    out = tmp_path / "h.ps1"
    out.write_bytes(signed.content)
    rc, text = verify(out, ac["root"])
    assert "SHA384" in text.upper(), text


def test_replace_and_append(instance, ac, tmp_path):
    # first signed by the test certificate
    _, first = sign(instance, SCRIPT.encode(), policy="ac-test")
    signed1 = first.content
    # replace (the default): the test signature is gone, one signature
    req, second = sign(instance, signed1, policy="ac")
    p = tmp_path / "replaced.ps1"
    p.write_bytes(second.content)
    rc, text = verify(p, ac["root"])
    assert "Signet Dev Test Signing" not in text, text
    assert second.content.count(b"# SIG # Begin signature block") == 1
    # append, asked for by the request: both signatures, the test one
    # first, the release one nested
    req, third = sign(instance, signed1, policy="ac",
                      fields={"parameters.signatureMode": "append"})
    assert req["authenticode"]["signatureMode"] == "append"
    assert any("nested" in (h.get("note") or "") for h in req["history"]), req
    p = tmp_path / "appended.ps1"
    p.write_bytes(third.content)
    rc, text = verify(p, ac["both"])
    assert "Number of verified signatures: 2" in text, text
    assert "Signet Dev Test Signing" in text and "Signet Dev Release" in text
    # a policy that fixes the mode
    req, fourth = sign(instance, signed1, policy="ac-append")
    assert req["authenticode"]["signatureMode"] == "append"
    p = tmp_path / "appended2.ps1"
    p.write_bytes(fourth.content)
    rc, text = verify(p, ac["both"])
    assert "Number of verified signatures: 2" in text, text
    # ... and refuses another one
    r = instance.submit(signed1, project=PROJECT, policy="ac-append",
                        filename="x.ps1", expect=400,
                        fields={"artifactConfigurationSlug": "authenticode",
                                "parameters.signatureMode": "replace"})
    assert "signatureMode" in r.json()["message"]


def test_already_signed_not_signed_twice(instance, ac, tmp_path):
    _, first = sign(instance, SCRIPT.encode(), policy="ac")
    for policy in ("ac", "ac-append"):
        req, again = sign(instance, first.content, policy=policy)
        assert again.content == first.content
        assert req["signedArtifact"]["sha256"] == sha256(first.content)
        notes = " ".join(h.get("note") or "" for h in req["history"])
        assert "not signed again" in notes, req
    # nested: the release signature inside the test one counts too
    _, t = sign(instance, SCRIPT.encode(), policy="ac-test")
    _, both = sign(instance, t.content, policy="ac-append")
    req, again = sign(instance, both.content, policy="ac-append")
    assert again.content == both.content
    assert "not signed again" in " ".join(
        h.get("note") or "" for h in req["history"])


MALFORMED = [
    (b"", "empty"),
    (b"Write-Output 1\x00\r\n", "NUL"),
    (b"Write-Output '\xff\xfe'\r\n", "UTF-8"),
    (b"\xfe\xff\x00#\x00 ", "big-endian"),
    (b"Write-Output 1\r\n# SIG # Begin signature block\r\n# AAAA\r\n",
     "no last line"),
    (b"Write-Output 1\r\n# SIG # Begin signature block\r\n# ***\r\n"
     b"# SIG # End signature block\r\n", "base64"),
    (b"Write-Output 1\r\n# SIG # Begin signature block\r\n# AAAA\r\n"
     b"# SIG # End signature block\r\nWrite-Output 2\r\n", "end of the file"),
    (b"Write-Output 1\r\n# SIG # Begin signature block\r\n# AAAA\r\n"
     b"# SIG # End signature block\r\n", "PKCS#7"),
    (b"Write-Output 1\r\n# SIG # End signature block\r\n", "never began"),
]


@pytest.mark.parametrize("data,words", MALFORMED)
def test_malformed_script_refused(instance, ac, data, words):
    before = len(instance.list_all(projectSlug=PROJECT))
    r = instance.submit(data, project=PROJECT, policy="ac", filename="bad.ps1",
                        fields={"artifactConfigurationSlug":
                                "authenticode-script"}, expect=None)
    assert r.status_code == 422, (r.status_code, r.text)
    body = r.json()
    assert body["error"] == "invalid_artifact"
    assert words in body["message"], body
    assert len(instance.list_all(projectSlug=PROJECT)) == before
    assert instance.tmp_entries() == []


def test_authenticode_refuses_binary(instance, ac):
    before = len(instance.list_all(projectSlug=PROJECT))
    r = instance.submit(bytes(range(256)) * 4, project=PROJECT, policy="ac",
                        filename="x.ps1", expect=422,
                        fields={"artifactConfigurationSlug": "authenticode"})
    assert "none of the formats" in r.json()["message"], r.text
    assert len(instance.list_all(projectSlug=PROJECT)) == before


def test_configuration_not_in_policy(instance, ac):
    r = instance.submit(SCRIPT.encode(), project=PROJECT, policy="cms-only",
                        filename="x.ps1", expect=None,
                        fields={"artifactConfigurationSlug":
                                "authenticode-script"})
    assert r.status_code == 400, r.text


def test_formats_listed(instance, ac):
    r = instance.session().get(instance.api("/signature-formats"))
    assert r.status_code == 200
    items = {i["slug"]: i for i in r.json()["items"]}
    assert items["authenticode-script"]["extension"] == ""
    assert items["authenticode-script"]["mediaType"] == "text/plain"
    assert "authenticode" in items


def test_cli_submit_configuration(instance, ac, tmp_path):
    from test_cli import cli_env, ok, signet
    script = tmp_path / "cli.ps1"
    script.write_bytes(SCRIPT.encode())
    out = tmp_path / "signed.ps1"
    env = cli_env(instance)
    p = ok(signet(env, "submit", "--project", PROJECT, "--policy", "ac",
                  "--configuration", "authenticode", "--artifact", str(script),
                  "--param", "programName=CLI Tool", "--no-origin",
                  "--wait", "--output", str(out)))
    rid = p.stdout.strip()
    req = instance.get_request(rid)
    assert req["artifactConfigurationSlug"] == "authenticode"
    assert req["authenticode"]["format"] == "authenticode-script"
    verify(out, ac["root"])
    # the request's details name the format, the program and both digests
    t = ok(signet(env, "status", rid)).stdout
    assert "authenticode-script" in t and "CLI Tool" in t, t
    assert req["unsignedArtifact"]["sha256"] in t, t
    assert req["authenticode"]["digest"] in t, t


def test_resubmit_keeps_the_recorded_digest(instance, ac, tmp_path):
    req, _ = sign(instance, SCRIPT.encode(), policy="ac-test")
    s = instance.session()
    # another algorithm: the recorded digest is not the new policy's
    r = s.post(instance.api(f"/signing-requests/{req['id']}/resubmit"),
               json={"signingPolicySlug": "ac384"})
    assert r.status_code == 409, r.text
    assert "submit the file again" in r.json()["message"]
    # the same algorithm: signed over what was recorded, in the new
    # policy's mode
    r = s.post(instance.api(f"/signing-requests/{req['id']}/resubmit"),
               json={"signingPolicySlug": "ac-append"})
    assert r.status_code == 201, r.text
    new = instance.wait_final(r.json()["id"])
    assert new["status"] == "Completed", new
    assert new["authenticode"]["digest"] == req["authenticode"]["digest"]
    assert new["authenticode"]["signatureMode"] == "append"
    got = s.get(instance.api(f"/signing-requests/{new['id']}/signed-artifact"))
    p = tmp_path / "re.ps1"
    p.write_bytes(got.content)
    verify(p, ac["root"])


# --- cabinets (ac_cab.c), made by gcab in the test ----------------------

def make_cab(tmp_path, name="app.cab"):
    src = tmp_path / "cabsrc"
    src.mkdir(exist_ok=True)
    (src / "readme.txt").write_text("signet cabinet\n" * 50)
    (src / "data.bin").write_bytes(bytes(range(256)) * 20)
    out = tmp_path / name
    run([tool("gcab"), "-c", "-n", str(out), str(src / "readme.txt"),
         str(src / "data.bin")])
    return out.read_bytes()


@pytest.mark.parametrize("conf", ["authenticode-cab", "authenticode"])
def test_cab_signed_and_verified(instance, ac, tmp_path, conf):
    data = make_cab(tmp_path)
    req, signed = sign(instance, data, name="app.cab", conf=conf)
    assert req["authenticode"]["format"] == "authenticode-cab"
    assert req["signedArtifact"]["name"] == "app.cab"
    assert signed.headers["Content-Type"] == "application/vnd.ms-cab-compressed"
    p = tmp_path / "signed.cab"
    p.write_bytes(signed.content)
    verify(p, ac["root"])
    # the files are still there
    listing = run([tool("gcab"), "-t", str(p)]).stdout
    assert "readme.txt" in listing and "data.bin" in listing
    bad = bytearray(signed.content)
    bad[len(data) // 2] ^= 0x01
    p.write_bytes(bytes(bad))
    rc, text = verify(p, ac["root"], check=False)
    assert rc != 0, text


def test_cab_append(instance, ac, tmp_path):
    data = make_cab(tmp_path)
    _, first = sign(instance, data, name="app.cab", conf="authenticode-cab",
                    policy="ac-test")
    req, second = sign(instance, first.content, name="app.cab",
                       conf="authenticode-cab", policy="ac-append")
    p = tmp_path / "two.cab"
    p.write_bytes(second.content)
    rc, text = verify(p, ac["both"])
    assert "Number of verified signatures: 2" in text, text
    req, third = sign(instance, second.content, name="app.cab",
                      conf="authenticode-cab", policy="ac-append")
    assert third.content == second.content


def test_cab_malformed_refused(instance, ac, tmp_path):
    import struct
    data = make_cab(tmp_path)
    before = len(instance.list_all(projectSlug=PROJECT))
    # the last data block cut, the header saying so (cbCabinet): what
    # only a walk of the CFDATA blocks finds; a block that would unpack
    # to more than 32 KiB
    cut = bytearray(data[:-10])
    struct.pack_into("<I", cut, 8, len(cut))
    start = struct.unpack_from("<I", data, 36)[0]
    big = bytearray(data)
    struct.pack_into("<H", big, start + 6, 0x9000)
    for bad in (data[:40], data[:-10], b"MSCF" + b"\0" * 60, bytes(cut),
                bytes(big)):
        r = instance.submit(bad, project=PROJECT, policy="ac",
                            filename="bad.cab", expect=None,
                            fields={"artifactConfigurationSlug":
                                    "authenticode-cab"})
        assert r.status_code == 422, (r.status_code, r.text)
        assert r.json()["error"] == "invalid_artifact"
        assert r.json()["message"], r.text
    # a script is not a cabinet
    r = instance.submit(SCRIPT.encode(), project=PROJECT, policy="ac",
                        filename="x.cab", expect=422,
                        fields={"artifactConfigurationSlug": "authenticode-cab"})
    assert len(instance.list_all(projectSlug=PROJECT)) == before
    assert instance.tmp_entries() == []


# --- Windows Installer packages (ac_msi.c), made by wixl in the test ----

WXS = """<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="*" Name="SignetTestProduct" Language="1033" Version="1.0.0"
           Manufacturer="Signet" UpgradeCode="6d2a3b9c-1f4e-4b8a-9c55-2f1e7d0a4b11">
    <Package InstallerVersion="200" Compressed="yes" InstallScope="perMachine"/>
    <Media Id="1" Cabinet="product.cab" EmbedCab="yes"/>
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFilesFolder">
        <Directory Id="INSTALLDIR" Name="SignetTest">
          <Component Id="Readme" Guid="0b7a2f5e-3c1d-4e8f-a9b6-7c5d4e3f2a10">
            <File Id="ReadmeTxt" Source="readme.txt"/>
          </Component>
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="Main" Level="1"><ComponentRef Id="Readme"/></Feature>
  </Product>
</Wix>
"""


def make_msi(tmp_path):
    d = tmp_path / "msisrc"
    d.mkdir(exist_ok=True)
    (d / "readme.txt").write_text("signet msi\n" * 20)
    (d / "product.wxs").write_text(WXS)
    run([tool("wixl"), "-o", str(d / "product.msi"), str(d / "product.wxs")],
        cwd=str(d))
    return (d / "product.msi").read_bytes()


@pytest.mark.parametrize("conf", ["authenticode-msi", "authenticode"])
def test_msi_signed_and_verified(instance, ac, tmp_path, conf):
    data = make_msi(tmp_path)
    req, signed = sign(instance, data, name="product.msi", conf=conf)
    assert req["authenticode"]["format"] == "authenticode-msi"
    assert signed.headers["Content-Type"] == "application/x-msi"
    p = tmp_path / "product.msi"
    p.write_bytes(signed.content)
    verify(p, ac["root"])
    # still an installer package
    run([tool("msiinfo"), "tables", str(p)])
    # a changed byte in a stream the digest covers fails
    body = bytearray(signed.content)
    i = body.find(b"SignetTestProduct")
    assert i > 0
    body[i] ^= 0x01
    p.write_bytes(bytes(body))
    rc, text = verify(p, ac["root"], check=False)
    assert rc != 0, text


def test_msi_append(instance, ac, tmp_path):
    data = make_msi(tmp_path)
    _, first = sign(instance, data, name="p.msi", conf="authenticode-msi",
                    policy="ac-test")
    _, second = sign(instance, first.content, name="p.msi",
                     conf="authenticode-msi", policy="ac-append")
    p = tmp_path / "p.msi"
    p.write_bytes(second.content)
    rc, text = verify(p, ac["both"])
    assert "Number of verified signatures: 2" in text, text


def test_msi_malformed_refused(instance, ac, tmp_path):
    data = make_msi(tmp_path)
    before = len(instance.list_all(projectSlug=PROJECT))
    for bad in (data[:512], data[:len(data) // 2],
                b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504):
        r = instance.submit(bad, project=PROJECT, policy="ac",
                            filename="bad.msi", expect=None,
                            fields={"artifactConfigurationSlug":
                                    "authenticode-msi"})
        assert 400 <= r.status_code < 500, (r.status_code, r.text)
        assert r.json()["message"], r.text
    assert len(instance.list_all(projectSlug=PROJECT)) == before
    assert instance.tmp_entries() == []


# --- PE/COFF images (ac_pe.c), built with mingw in the test -------------

HELLO_C = r"""
#include <stdio.h>
int main(void) { puts("hello from signet"); return 0; }
"""
DLL_C = r"""
__declspec(dllexport) int signet_answer(void) { return 42; }
"""


def mingw(tmp_path, cc, src, out, *flags):
    c = tmp_path / (out + ".c")
    c.write_text(src)
    exe = tmp_path / out
    run([tool(cc), "-O1", "-s", "-o", str(exe), str(c), *flags])
    return exe.read_bytes()


PE_CASES = {
    "pe32plus.exe": ("x86_64-w64-mingw32-gcc", HELLO_C, ()),
    "pe32.exe": ("i686-w64-mingw32-gcc", HELLO_C, ()),
    "lib.dll": ("x86_64-w64-mingw32-gcc", DLL_C, ("-shared",)),
}


@pytest.mark.parametrize("name", sorted(PE_CASES))
@pytest.mark.parametrize("conf", ["authenticode-pe", "authenticode"])
def test_pe_signed_and_verified(instance, ac, tmp_path, name, conf):
    cc, src, flags = PE_CASES[name]
    data = mingw(tmp_path, cc, src, name, *flags)
    req, signed = sign(instance, data, name=name, conf=conf)
    assert req["authenticode"]["format"] == "authenticode-pe"
    assert req["signedArtifact"]["name"] == name
    assert signed.headers["Content-Type"] == \
        "application/vnd.microsoft.portable-executable"
    p = tmp_path / ("signed-" + name)
    p.write_bytes(signed.content)
    verify(p, ac["root"])
    bad = bytearray(signed.content)
    bad[len(data) // 2] ^= 0x01
    p.write_bytes(bytes(bad))
    rc, text = verify(p, ac["root"], check=False)
    assert rc != 0, text


def test_pe_with_appended_data(instance, ac, tmp_path):
    data = mingw(tmp_path, "x86_64-w64-mingw32-gcc", HELLO_C, "setup.exe")
    data += b"SIGNET-PAYLOAD" * 100	# an installer's payload after the image
    req, signed = sign(instance, data, name="setup.exe",
                       conf="authenticode-pe")
    p = tmp_path / "setup.exe"
    p.write_bytes(signed.content)
    verify(p, ac["root"])
    assert b"SIGNET-PAYLOAD" * 100 in signed.content


def replace_stored(instance, digest, data):
    """Puts data where the stored artifact digest is kept, a file of the
    artifact store or (a small one) the database; returns what was there."""
    stored = instance.state / "artifacts" / "sha256" / digest[:2] / digest
    if stored.exists():
        old = stored.read_bytes()
        stored.chmod(0o600)
        stored.write_bytes(data)
        return old
    old = instance.artifact_in_database(digest)
    assert old is not None, f"{digest} is kept nowhere"
    instance.put_artifact_in_database(digest, data)
    return old


# 16 KiB: the file stays under the size kept in the database; 96 KiB: it
# is a file of the artifact store
@pytest.mark.parametrize("overlay", [64, 384])
def test_pe_stored_file_changed_is_not_signed(instance, ac, tmp_path, overlay):
    """A PE image is signed over the Authenticode digest recorded when it
    was submitted, and the signed file is checked to carry that digest as
    it is written: a stored file changed where it is kept (the database,
    or the disk) while the request waited for approval fails the request
    and leaves no signed file. The same image untouched, in the same
    state, completes."""
    data = mingw(tmp_path, "x86_64-w64-mingw32-gcc", HELLO_C, "app.exe")
    data += bytes(range(256)) * overlay
    officer = instance.login("officer")
    rids = []
    for _ in range(2):
        r = instance.submit(data, project=PROJECT, policy="ac-approve",
                            filename="app.exe",
                            fields={"artifactConfigurationSlug":
                                    "authenticode-pe"})
        assert r.status_code == 201, r.text
        rids.append(r.json()["id"])
    req = instance.get_request(rids[0])
    assert req["workflowStatus"] == "WaitingForApproval", req
    digest = req["unsignedArtifact"]["sha256"]
    # each case where it means to be
    in_db = instance.artifact_in_database(digest) is not None
    assert in_db == (overlay == 64) == (len(data) <= 64 * 1024), len(data)
    # both requests share the one stored file: approve the control first
    r = officer.post(instance.api(f"/signing-requests/{rids[1]}/approve"),
                     json={"comment": "control"}, timeout=30)
    assert r.status_code == 200, r.text
    assert instance.wait_final(rids[1])["status"] == "Completed"
    good = instance.session().get(
        instance.api(f"/signing-requests/{rids[1]}/signed-artifact"))
    assert good.status_code == 200, good.text
    p = tmp_path / "good.exe"
    p.write_bytes(good.content)
    verify(p, ac["root"])
    # a byte of the overlay changed where it is kept
    raw = bytearray(data)
    raw[len(raw) - 100] ^= 0xff
    assert replace_stored(instance, digest, bytes(raw)) == data
    r = officer.post(instance.api(f"/signing-requests/{rids[0]}/approve"),
                     json={"comment": "changed"}, timeout=30)
    assert r.status_code == 200, r.text
    final = instance.wait_final(rids[0])
    assert final["status"] == "Failed", final
    assert "not the one recorded" in final.get("failureReason", ""), final
    assert not final.get("signedArtifact"), final
    r = instance.session().get(
        instance.api(f"/signing-requests/{rids[0]}/signed-artifact"))
    assert r.status_code in (404, 409), r.text


def test_pe_already_signed_stored_file_swapped(instance, ac, tmp_path):
    """A file the certificate signed already is the result as it is
    stored, so its digest is checked against the recorded one too: a
    stored file swapped for another file the same certificate signed
    fails the request instead of being handed out under the approved
    name."""
    base = mingw(tmp_path, "x86_64-w64-mingw32-gcc", HELLO_C, "twice.exe")
    signed = []
    for tail in (b"first" * 50, b"second" * 50):
        _, s = sign(instance, base + tail, name="twice.exe",
                    conf="authenticode-pe")
        signed.append(s.content)
    officer = instance.login("officer")
    r = instance.submit(signed[0], project=PROJECT, policy="ac-approve",
                        filename="twice.exe",
                        fields={"artifactConfigurationSlug": "authenticode-pe"})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    digest = instance.get_request(rid)["unsignedArtifact"]["sha256"]
    # the stored file is also the first request's signed file: put back
    assert replace_stored(instance, digest, signed[1]) == signed[0]
    try:
        r = officer.post(instance.api(f"/signing-requests/{rid}/approve"),
                         json={"comment": "swapped"}, timeout=30)
        assert r.status_code == 200, r.text
        final = instance.wait_final(rid)
    finally:
        replace_stored(instance, digest, signed[0])
    assert final["status"] == "Failed", final
    assert "not the one recorded" in final.get("failureReason", ""), final


def test_pe_append_nested(instance, ac, tmp_path):
    data = mingw(tmp_path, "x86_64-w64-mingw32-gcc", HELLO_C, "n.exe")
    _, first = sign(instance, data, name="n.exe", conf="authenticode-pe",
                    policy="ac-test")
    req, second = sign(instance, first.content, name="n.exe",
                       conf="authenticode-pe", policy="ac-append")
    p = tmp_path / "n.exe"
    p.write_bytes(second.content)
    rc, text = verify(p, ac["both"])
    assert "Number of verified signatures: 2" in text, text
    _, third = sign(instance, second.content, name="n.exe",
                    conf="authenticode-pe", policy="ac-append")
    assert third.content == second.content


def test_efi_append_keeps_the_vendor_signature(instance, ac, tmp_path):
    shim = "/usr/lib/shim/shimx64.efi.signed"
    import os
    assert os.path.exists(shim), "shim-signed is not installed (scripts/deps.sh)"
    data = open(shim, "rb").read()
    req, signed = sign(instance, data, name="shimx64.efi",
                       conf="authenticode", policy="ac-append")
    assert req["authenticode"]["format"] == "authenticode-pe"
    assert any("certificate table" in (h.get("note") or "")
               for h in req["history"]), req
    def entries(path):
        out = run([tool("sbverify"), "--list", str(path)]).stdout
        return out, re.findall(r"(?m)^signature \d+$", out)

    vendor, before = entries(shim)
    assert before, vendor
    p = tmp_path / "shimx64.efi"
    p.write_bytes(signed.content)
    listing, after = entries(p)
    # the vendor's signatures, as they were, and ours after them
    assert len(after) == len(before) + 1, listing
    assert listing.startswith(vendor.rstrip("\n")), listing
    assert "Microsoft" in listing, listing
    assert "Signet Dev Release Signing" in listing.split(after[-1])[1], listing
    v = run([tool("sbverify"), "--cert", str(ac["root"]), str(p)], check=False)
    assert v.returncode == 0, v.stdout + v.stderr
    # signed by this certificate already: not twice
    req, again = sign(instance, signed.content, name="shimx64.efi",
                      conf="authenticode", policy="ac-append")
    assert again.content == signed.content


def test_pe_malformed_refused(instance, ac, tmp_path):
    data = mingw(tmp_path, "x86_64-w64-mingw32-gcc", HELLO_C, "m.exe")
    before = len(instance.list_all(projectSlug=PROJECT))
    cut = bytearray(data)
    cut[0x3c:0x40] = (len(data) + 100).to_bytes(4, "little")  # e_lfanew
    for bad in (data[:200], b"MZ" + b"\0" * 100, bytes(cut)):
        for conf in ("authenticode-pe", "authenticode"):
            r = instance.submit(bad, project=PROJECT, policy="ac",
                                filename="bad.exe", expect=None,
                                fields={"artifactConfigurationSlug": conf})
            assert 400 <= r.status_code < 500, (r.status_code, r.text)
            assert r.json()["message"], r.text
    assert len(instance.list_all(projectSlug=PROJECT)) == before
    assert instance.tmp_entries() == []


def test_timestamped(instance, ac, tmp_path):
    """A policy with `timestamp: builtin`: the signature carries an RFC
    3161 token of the appliance's TSA (its certificate is issued by the
    release CA), which osslsigncode verifies."""
    req, signed = sign(instance, SCRIPT.encode(), policy="ac-ts")
    p = tmp_path / "ts.ps1"
    p.write_bytes(signed.content)
    v = run([tool("osslsigncode"), "verify", "-CAfile", str(ac["root"]),
             "-TSA-CAfile", str(ac["root"]), "-in", str(p)], check=False)
    out = v.stdout + v.stderr
    assert v.returncode == 0, out
    assert "Timestamp Server Signature verification: ok" in out, out
    assert "Signet Dev TSA" in out, out
    # and a PE image the same way
    data = mingw(tmp_path, "x86_64-w64-mingw32-gcc", HELLO_C, "ts.exe")
    req, signed = sign(instance, data, name="ts.exe", conf="authenticode-pe",
                       policy="ac-ts")
    p = tmp_path / "ts.exe"
    p.write_bytes(signed.content)
    v = run([tool("osslsigncode"), "verify", "-CAfile", str(ac["root"]),
             "-TSA-CAfile", str(ac["root"]), "-in", str(p)], check=False)
    out = v.stdout + v.stderr
    assert v.returncode == 0, out
    assert "Timestamp Server Signature verification: ok" in out, out


def test_reconcile_clean(instance, ac, tmp_path):
    """Every Authenticode signature the keyholder journaled is accounted
    for by its request's signed file (`signet audit reconcile`): the
    signed attributes it covered are in the file, and the digest they
    name is the one recorded at submission. Runs last: it sees every
    request the tests above signed (nested, beside, SHA-384)."""
    from conftest import BUILD
    p = run([str(BUILD / "signet"), "-c", str(instance.conf), "audit",
             "reconcile"], check=False, timeout=300)
    findings = [l for l in p.stdout.splitlines() if l.startswith("finding: ")]
    assert findings == [], p.stdout + p.stderr
    assert p.returncode == 0, p.stdout + p.stderr
