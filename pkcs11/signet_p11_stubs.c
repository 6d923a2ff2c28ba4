/* The PKCS#11 functions a token that only signs does not offer: no
 * objects are made or changed, nothing is encrypted, decrypted,
 * wrapped or derived, and there is no PIN to set (PKCS#11 2.40 section
 * 5: CKR_FUNCTION_NOT_SUPPORTED). The parameters follow the prototypes
 * in <p11-kit/pkcs11.h>, which declares every entry point (the compiler
 * holds each stub to its prototype); every stub ignores them alike. */
#include <p11-kit/pkcs11.h>

#pragma GCC diagnostic ignored "-Wunused-parameter"

#define SP11_NOT_SUPPORTED(name, params) \
	CK_RV name params { return CKR_FUNCTION_NOT_SUPPORTED; }

SP11_NOT_SUPPORTED(C_InitToken, (CK_SLOT_ID slotID, unsigned char *pin,
    unsigned long pin_len, unsigned char *label))
SP11_NOT_SUPPORTED(C_InitPIN, (CK_SESSION_HANDLE session, unsigned char *pin,
    unsigned long pin_len))
SP11_NOT_SUPPORTED(C_SetPIN, (CK_SESSION_HANDLE session, unsigned char
    *old_pin, unsigned long old_len, unsigned char *new_pin, unsigned long
    new_len))
SP11_NOT_SUPPORTED(C_GetOperationState, (CK_SESSION_HANDLE session, unsigned
    char *operation_state, unsigned long *operation_state_len))
SP11_NOT_SUPPORTED(C_SetOperationState, (CK_SESSION_HANDLE session, unsigned
    char *operation_state, unsigned long operation_state_len, CK_OBJECT_HANDLE
    encryption_key, CK_OBJECT_HANDLE authentiation_key))
SP11_NOT_SUPPORTED(C_CreateObject, (CK_SESSION_HANDLE session, struct
    _CK_ATTRIBUTE *templ, unsigned long ulCount, CK_OBJECT_HANDLE *object))
SP11_NOT_SUPPORTED(C_CopyObject, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE
    object, struct _CK_ATTRIBUTE *templ, unsigned long ulCount,
    CK_OBJECT_HANDLE *new_object))
SP11_NOT_SUPPORTED(C_DestroyObject, (CK_SESSION_HANDLE session,
    CK_OBJECT_HANDLE object))
SP11_NOT_SUPPORTED(C_SetAttributeValue, (CK_SESSION_HANDLE session,
    CK_OBJECT_HANDLE object, struct _CK_ATTRIBUTE *templ, unsigned long
    ulCount))
SP11_NOT_SUPPORTED(C_EncryptInit, (CK_SESSION_HANDLE session, struct
    _CK_MECHANISM *mechanism, CK_OBJECT_HANDLE key))
SP11_NOT_SUPPORTED(C_Encrypt, (CK_SESSION_HANDLE session, unsigned char *data,
    unsigned long data_len, unsigned char *encrypted_data, unsigned long
    *encrypted_data_len))
SP11_NOT_SUPPORTED(C_EncryptUpdate, (CK_SESSION_HANDLE session, unsigned char
    *part, unsigned long part_len, unsigned char *encrypted_part, unsigned
    long *encrypted_part_len))
SP11_NOT_SUPPORTED(C_EncryptFinal, (CK_SESSION_HANDLE session, unsigned char
    *last_encrypted_part, unsigned long *last_encrypted_part_len))
SP11_NOT_SUPPORTED(C_DecryptInit, (CK_SESSION_HANDLE session, struct
    _CK_MECHANISM *mechanism, CK_OBJECT_HANDLE key))
SP11_NOT_SUPPORTED(C_Decrypt, (CK_SESSION_HANDLE session, unsigned char
    *encrypted_data, unsigned long encrypted_data_len, unsigned char *data,
    unsigned long *data_len))
SP11_NOT_SUPPORTED(C_DecryptUpdate, (CK_SESSION_HANDLE session, unsigned char
    *encrypted_part, unsigned long encrypted_part_len, unsigned char *part,
    unsigned long *part_len))
SP11_NOT_SUPPORTED(C_DecryptFinal, (CK_SESSION_HANDLE session, unsigned char
    *last_part, unsigned long *last_part_len))
SP11_NOT_SUPPORTED(C_DigestInit, (CK_SESSION_HANDLE session, struct
    _CK_MECHANISM *mechanism))
SP11_NOT_SUPPORTED(C_Digest, (CK_SESSION_HANDLE session, unsigned char *data,
    unsigned long data_len, unsigned char *digest, unsigned long *digest_len))
SP11_NOT_SUPPORTED(C_DigestUpdate, (CK_SESSION_HANDLE session, unsigned char
    *part, unsigned long part_len))
SP11_NOT_SUPPORTED(C_DigestKey, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE
    key))
SP11_NOT_SUPPORTED(C_DigestFinal, (CK_SESSION_HANDLE session, unsigned char
    *digest, unsigned long *digest_len))
SP11_NOT_SUPPORTED(C_SignRecoverInit, (CK_SESSION_HANDLE session, struct
    _CK_MECHANISM *mechanism, CK_OBJECT_HANDLE key))
SP11_NOT_SUPPORTED(C_SignRecover, (CK_SESSION_HANDLE session, unsigned char
    *data, unsigned long data_len, unsigned char *signature, unsigned long
    *signature_len))
SP11_NOT_SUPPORTED(C_VerifyInit, (CK_SESSION_HANDLE session, struct
    _CK_MECHANISM *mechanism, CK_OBJECT_HANDLE key))
SP11_NOT_SUPPORTED(C_Verify, (CK_SESSION_HANDLE session, unsigned char *data,
    unsigned long data_len, unsigned char *signature, unsigned long
    signature_len))
SP11_NOT_SUPPORTED(C_VerifyUpdate, (CK_SESSION_HANDLE session, unsigned char
    *part, unsigned long part_len))
SP11_NOT_SUPPORTED(C_VerifyFinal, (CK_SESSION_HANDLE session, unsigned char
    *signature, unsigned long signature_len))
SP11_NOT_SUPPORTED(C_VerifyRecoverInit, (CK_SESSION_HANDLE session, struct
    _CK_MECHANISM *mechanism, CK_OBJECT_HANDLE key))
SP11_NOT_SUPPORTED(C_VerifyRecover, (CK_SESSION_HANDLE session, unsigned char
    *signature, unsigned long signature_len, unsigned char *data, unsigned
    long *data_len))
SP11_NOT_SUPPORTED(C_DigestEncryptUpdate, (CK_SESSION_HANDLE session, unsigned
    char *part, unsigned long part_len, unsigned char *encrypted_part,
    unsigned long *encrypted_part_len))
SP11_NOT_SUPPORTED(C_DecryptDigestUpdate, (CK_SESSION_HANDLE session, unsigned
    char *encrypted_part, unsigned long encrypted_part_len, unsigned char
    *part, unsigned long *part_len))
SP11_NOT_SUPPORTED(C_SignEncryptUpdate, (CK_SESSION_HANDLE session, unsigned
    char *part, unsigned long part_len, unsigned char *encrypted_part,
    unsigned long *encrypted_part_len))
SP11_NOT_SUPPORTED(C_DecryptVerifyUpdate, (CK_SESSION_HANDLE session, unsigned
    char *encrypted_part, unsigned long encrypted_part_len, unsigned char
    *part, unsigned long *part_len))
SP11_NOT_SUPPORTED(C_GenerateKey, (CK_SESSION_HANDLE session, struct
    _CK_MECHANISM *mechanism, struct _CK_ATTRIBUTE *templ, unsigned long
    ulCount, CK_OBJECT_HANDLE *key))
SP11_NOT_SUPPORTED(C_GenerateKeyPair, (CK_SESSION_HANDLE session, struct
    _CK_MECHANISM *mechanism, struct _CK_ATTRIBUTE *public_key_template,
    unsigned long public_key_attribute_count, struct _CK_ATTRIBUTE
    *private_key_template, unsigned long private_key_attribute_count,
    CK_OBJECT_HANDLE *public_key, CK_OBJECT_HANDLE *private_key))
SP11_NOT_SUPPORTED(C_WrapKey, (CK_SESSION_HANDLE session, struct _CK_MECHANISM
    *mechanism, CK_OBJECT_HANDLE wrapping_key, CK_OBJECT_HANDLE key, unsigned
    char *wrapped_key, unsigned long *wrapped_key_len))
SP11_NOT_SUPPORTED(C_UnwrapKey, (CK_SESSION_HANDLE session, struct
    _CK_MECHANISM *mechanism, CK_OBJECT_HANDLE unwrapping_key, unsigned char
    *wrapped_key, unsigned long wrapped_key_len, struct _CK_ATTRIBUTE *templ,
    unsigned long attribute_count, CK_OBJECT_HANDLE *key))
SP11_NOT_SUPPORTED(C_DeriveKey, (CK_SESSION_HANDLE session, struct
    _CK_MECHANISM *mechanism, CK_OBJECT_HANDLE base_key, struct _CK_ATTRIBUTE
    *templ, unsigned long attribute_count, CK_OBJECT_HANDLE *key))
SP11_NOT_SUPPORTED(C_SeedRandom, (CK_SESSION_HANDLE session, unsigned char
    *seed, unsigned long seed_len))
SP11_NOT_SUPPORTED(C_GenerateRandom, (CK_SESSION_HANDLE session, unsigned char
    *random_data, unsigned long random_len))

/* the legacy parallel functions (PKCS#11 2.40 section 5.20) */
CK_RV
C_GetFunctionStatus(CK_SESSION_HANDLE session)
{
	return CKR_FUNCTION_NOT_PARALLEL;
}

CK_RV
C_CancelFunction(CK_SESSION_HANDLE session)
{
	return CKR_FUNCTION_NOT_PARALLEL;
}
