"""Drives libsignet-pkcs11.so directly through ctypes, for what the tools
do not show: the size convention of C_Sign with a buffer too small (one
request, not two), a PIN taken and ignored, parameters refused, a
sensitive attribute, and CKR_DEVICE_ERROR when the appliance went away.
Run by test_pkcs11_module.py: python3 p11_ctypes.py MODULE; prints one
JSON line per step and waits for a line on stdin before the last one."""

import ctypes as C
import json
import sys

ULONG = C.c_ulong
NAMES = ("Initialize Finalize GetInfo GetFunctionList GetSlotList "
         "GetSlotInfo GetTokenInfo GetMechanismList GetMechanismInfo "
         "InitToken InitPIN SetPIN OpenSession CloseSession "
         "CloseAllSessions GetSessionInfo GetOperationState "
         "SetOperationState Login Logout CreateObject CopyObject "
         "DestroyObject GetObjectSize GetAttributeValue SetAttributeValue "
         "FindObjectsInit FindObjects FindObjectsFinal EncryptInit Encrypt "
         "EncryptUpdate EncryptFinal DecryptInit Decrypt DecryptUpdate "
         "DecryptFinal DigestInit Digest DigestUpdate DigestKey DigestFinal "
         "SignInit Sign SignUpdate SignFinal").split()


class Version(C.Structure):
    _fields_ = [("major", C.c_ubyte), ("minor", C.c_ubyte)]


class FunctionList(C.Structure):
    _fields_ = [("version", Version)] + [("C_" + n, C.c_void_p) for n in NAMES]


class Mechanism(C.Structure):
    _fields_ = [("mechanism", ULONG), ("pParameter", C.c_void_p),
                ("ulParameterLen", ULONG)]


class Attribute(C.Structure):
    _fields_ = [("type", ULONG), ("pValue", C.c_void_p),
                ("ulValueLen", ULONG)]


class PssParams(C.Structure):
    _fields_ = [("hashAlg", ULONG), ("mgf", ULONG), ("sLen", ULONG)]


CKO_PRIVATE_KEY, CKA_CLASS, CKA_PRIVATE_EXPONENT = 3, 0, 0x123
CKM_SHA256_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_SHA256 = 0x40, 0x0d, 0x250
CKG_MGF1_SHA256, CKF_SERIAL_SESSION, CKU_USER = 2, 4, 1


def fn(fl, name, *argtypes):
    f = C.CFUNCTYPE(ULONG, *argtypes)(getattr(fl, name))
    return f


def say(**kw):
    print(json.dumps(kw), flush=True)


def main():
    lib = C.CDLL(sys.argv[1])
    pfl = C.POINTER(FunctionList)()
    assert lib.C_GetFunctionList(C.byref(pfl)) == 0
    fl = pfl.contents
    P, U = C.c_void_p, ULONG
    PU = C.POINTER(ULONG)
    say(step="initialize", rv=fn(fl, "C_Initialize", P)(None))
    n = U(0)
    fn(fl, "C_GetSlotList", C.c_ubyte, P, PU)(1, None, C.byref(n))
    slots = (U * n.value)()
    fn(fl, "C_GetSlotList", C.c_ubyte, P, PU)(1, slots, C.byref(n))
    h = U(0)
    fn(fl, "C_OpenSession", U, U, P, P, PU)(slots[0], CKF_SERIAL_SESSION,
                                            None, None, C.byref(h))
    pin = b"any PIN at all"
    say(step="login", rv=fn(fl, "C_Login", U, U, C.c_char_p, U)(
        h, CKU_USER, pin, len(pin)))
    cls = U(CKO_PRIVATE_KEY)
    tmpl = Attribute(CKA_CLASS, C.cast(C.byref(cls), P), C.sizeof(cls))
    key, found = U(0), U(0)
    fn(fl, "C_FindObjectsInit", U, P, U)(h, C.byref(tmpl), 1)
    fn(fl, "C_FindObjects", U, PU, U, PU)(h, C.byref(key), 1, C.byref(found))
    fn(fl, "C_FindObjectsFinal", U)(h)
    a = Attribute(CKA_PRIVATE_EXPONENT, None, 0)
    say(step="sensitive", rv=fn(fl, "C_GetAttributeValue", U, U, P, U)(
        h, key, C.byref(a), 1), len=a.ulValueLen)
    sign_init = fn(fl, "C_SignInit", U, P, U)
    sign = fn(fl, "C_Sign", U, C.c_char_p, U, P, PU)
    bad = PssParams(CKM_SHA256, CKG_MGF1_SHA256, 20)
    m = Mechanism(CKM_RSA_PKCS_PSS, C.cast(C.byref(bad), P), C.sizeof(bad))
    say(step="pss-params", rv=sign_init(h, C.byref(m), key))
    data = sys.stdin.readline().strip().encode()
    m = Mechanism(CKM_SHA256_RSA_PKCS, None, 0)
    rv_init = sign_init(h, C.byref(m), key)
    size = U(0)
    rv_size = sign(h, data, len(data), None, C.byref(size))
    small = (C.c_ubyte * 10)()
    slen = U(10)
    rv_small = sign(h, data, len(data), C.cast(small, P), C.byref(slen))
    buf = (C.c_ubyte * slen.value)()
    rv_sign = sign(h, data, len(data), C.cast(buf, P), C.byref(slen))
    say(step="sign", init=rv_init, size_rv=rv_size, size=size.value,
        small_rv=rv_small, small_len=slen.value, rv=rv_sign,
        sig=bytes(buf[:slen.value]).hex())
    data = sys.stdin.readline().strip().encode()   # the appliance is gone
    sign_init(h, C.byref(m), key)
    slen = U(len(buf))
    say(step="gone", rv=sign(h, data, len(data), C.cast(buf, P),
                             C.byref(slen)))
    say(step="finalize", rv=fn(fl, "C_Finalize", P)(None))


main()
