/* The PKCS#11 functions a token that only signs does not offer: no
 * objects are made or changed, nothing is encrypted, decrypted,
 * wrapped or derived, and there is no PIN to set (PKCS#11 2.40 section
 * 5: CKR_FUNCTION_NOT_SUPPORTED). Generated once from the prototypes
 * in <p11-kit/pkcs11.h>, which declares every entry point. */
#include <p11-kit/pkcs11.h>

CK_RV
C_InitToken(CK_SLOT_ID slotID, unsigned char *pin, unsigned long pin_len, unsigned
    char *label)
{
	(void)slotID;
	(void)pin;
	(void)pin_len;
	(void)label;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_InitPIN(CK_SESSION_HANDLE session, unsigned char *pin, unsigned long pin_len)
{
	(void)session;
	(void)pin;
	(void)pin_len;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_SetPIN(CK_SESSION_HANDLE session, unsigned char *old_pin, unsigned long
    old_len, unsigned char *new_pin, unsigned long new_len)
{
	(void)session;
	(void)old_pin;
	(void)old_len;
	(void)new_pin;
	(void)new_len;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_GetOperationState(CK_SESSION_HANDLE session, unsigned char *operation_state, unsigned long
    *operation_state_len)
{
	(void)session;
	(void)operation_state;
	(void)operation_state_len;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_SetOperationState(CK_SESSION_HANDLE session, unsigned char *operation_state, unsigned long
    operation_state_len, CK_OBJECT_HANDLE encryption_key,
    CK_OBJECT_HANDLE authentiation_key)
{
	(void)session;
	(void)operation_state;
	(void)operation_state_len;
	(void)encryption_key;
	(void)authentiation_key;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_CreateObject(CK_SESSION_HANDLE session, struct _CK_ATTRIBUTE *templ, unsigned long
    ulCount, CK_OBJECT_HANDLE *object)
{
	(void)session;
	(void)templ;
	(void)ulCount;
	(void)object;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_CopyObject(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, struct _CK_ATTRIBUTE
    *templ, unsigned long ulCount, CK_OBJECT_HANDLE *new_object)
{
	(void)session;
	(void)object;
	(void)templ;
	(void)ulCount;
	(void)new_object;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_DestroyObject(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object)
{
	(void)session;
	(void)object;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_SetAttributeValue(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, struct _CK_ATTRIBUTE
    *templ, unsigned long ulCount)
{
	(void)session;
	(void)object;
	(void)templ;
	(void)ulCount;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_EncryptInit(CK_SESSION_HANDLE session, struct _CK_MECHANISM *mechanism,
    CK_OBJECT_HANDLE key)
{
	(void)session;
	(void)mechanism;
	(void)key;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_Encrypt(CK_SESSION_HANDLE session, unsigned char *data, unsigned long data_len,
    unsigned char *encrypted_data, unsigned long *encrypted_data_len)
{
	(void)session;
	(void)data;
	(void)data_len;
	(void)encrypted_data;
	(void)encrypted_data_len;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_EncryptUpdate(CK_SESSION_HANDLE session, unsigned char *part, unsigned long part_len,
    unsigned char *encrypted_part, unsigned long *encrypted_part_len)
{
	(void)session;
	(void)part;
	(void)part_len;
	(void)encrypted_part;
	(void)encrypted_part_len;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_EncryptFinal(CK_SESSION_HANDLE session, unsigned char *last_encrypted_part, unsigned
    long *last_encrypted_part_len)
{
	(void)session;
	(void)last_encrypted_part;
	(void)last_encrypted_part_len;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_DecryptInit(CK_SESSION_HANDLE session, struct _CK_MECHANISM *mechanism,
    CK_OBJECT_HANDLE key)
{
	(void)session;
	(void)mechanism;
	(void)key;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_Decrypt(CK_SESSION_HANDLE session, unsigned char *encrypted_data, unsigned long
    encrypted_data_len, unsigned char *data, unsigned long *data_len)
{
	(void)session;
	(void)encrypted_data;
	(void)encrypted_data_len;
	(void)data;
	(void)data_len;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_DecryptUpdate(CK_SESSION_HANDLE session, unsigned char *encrypted_part, unsigned long
    encrypted_part_len, unsigned char *part, unsigned long *part_len)
{
	(void)session;
	(void)encrypted_part;
	(void)encrypted_part_len;
	(void)part;
	(void)part_len;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_DecryptFinal(CK_SESSION_HANDLE session, unsigned char *last_part, unsigned long
    *last_part_len)
{
	(void)session;
	(void)last_part;
	(void)last_part_len;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_DigestInit(CK_SESSION_HANDLE session, struct _CK_MECHANISM *mechanism)
{
	(void)session;
	(void)mechanism;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_Digest(CK_SESSION_HANDLE session, unsigned char *data, unsigned long data_len,
    unsigned char *digest, unsigned long *digest_len)
{
	(void)session;
	(void)data;
	(void)data_len;
	(void)digest;
	(void)digest_len;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_DigestUpdate(CK_SESSION_HANDLE session, unsigned char *part, unsigned long part_len)
{
	(void)session;
	(void)part;
	(void)part_len;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_DigestKey(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key)
{
	(void)session;
	(void)key;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_DigestFinal(CK_SESSION_HANDLE session, unsigned char *digest, unsigned long
    *digest_len)
{
	(void)session;
	(void)digest;
	(void)digest_len;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_SignRecoverInit(CK_SESSION_HANDLE session, struct _CK_MECHANISM *mechanism,
    CK_OBJECT_HANDLE key)
{
	(void)session;
	(void)mechanism;
	(void)key;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_SignRecover(CK_SESSION_HANDLE session, unsigned char *data, unsigned long data_len,
    unsigned char *signature, unsigned long *signature_len)
{
	(void)session;
	(void)data;
	(void)data_len;
	(void)signature;
	(void)signature_len;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_VerifyInit(CK_SESSION_HANDLE session, struct _CK_MECHANISM *mechanism,
    CK_OBJECT_HANDLE key)
{
	(void)session;
	(void)mechanism;
	(void)key;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_Verify(CK_SESSION_HANDLE session, unsigned char *data, unsigned long data_len,
    unsigned char *signature, unsigned long signature_len)
{
	(void)session;
	(void)data;
	(void)data_len;
	(void)signature;
	(void)signature_len;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_VerifyUpdate(CK_SESSION_HANDLE session, unsigned char *part, unsigned long part_len)
{
	(void)session;
	(void)part;
	(void)part_len;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_VerifyFinal(CK_SESSION_HANDLE session, unsigned char *signature, unsigned long
    signature_len)
{
	(void)session;
	(void)signature;
	(void)signature_len;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_VerifyRecoverInit(CK_SESSION_HANDLE session, struct _CK_MECHANISM *mechanism,
    CK_OBJECT_HANDLE key)
{
	(void)session;
	(void)mechanism;
	(void)key;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_VerifyRecover(CK_SESSION_HANDLE session, unsigned char *signature, unsigned long
    signature_len, unsigned char *data, unsigned long *data_len)
{
	(void)session;
	(void)signature;
	(void)signature_len;
	(void)data;
	(void)data_len;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_DigestEncryptUpdate(CK_SESSION_HANDLE session, unsigned char *part, unsigned long part_len,
    unsigned char *encrypted_part, unsigned long *encrypted_part_len)
{
	(void)session;
	(void)part;
	(void)part_len;
	(void)encrypted_part;
	(void)encrypted_part_len;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_DecryptDigestUpdate(CK_SESSION_HANDLE session, unsigned char *encrypted_part, unsigned long
    encrypted_part_len, unsigned char *part, unsigned long *part_len)
{
	(void)session;
	(void)encrypted_part;
	(void)encrypted_part_len;
	(void)part;
	(void)part_len;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_SignEncryptUpdate(CK_SESSION_HANDLE session, unsigned char *part, unsigned long part_len,
    unsigned char *encrypted_part, unsigned long *encrypted_part_len)
{
	(void)session;
	(void)part;
	(void)part_len;
	(void)encrypted_part;
	(void)encrypted_part_len;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_DecryptVerifyUpdate(CK_SESSION_HANDLE session, unsigned char *encrypted_part, unsigned long
    encrypted_part_len, unsigned char *part, unsigned long *part_len)
{
	(void)session;
	(void)encrypted_part;
	(void)encrypted_part_len;
	(void)part;
	(void)part_len;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_GenerateKey(CK_SESSION_HANDLE session, struct _CK_MECHANISM *mechanism, struct
    _CK_ATTRIBUTE *templ, unsigned long ulCount, CK_OBJECT_HANDLE *key)
{
	(void)session;
	(void)mechanism;
	(void)templ;
	(void)ulCount;
	(void)key;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_GenerateKeyPair(CK_SESSION_HANDLE session, struct _CK_MECHANISM *mechanism, struct
    _CK_ATTRIBUTE *public_key_template, unsigned long
    public_key_attribute_count, struct _CK_ATTRIBUTE
    *private_key_template, unsigned long private_key_attribute_count,
    CK_OBJECT_HANDLE *public_key, CK_OBJECT_HANDLE *private_key)
{
	(void)session;
	(void)mechanism;
	(void)public_key_template;
	(void)public_key_attribute_count;
	(void)private_key_template;
	(void)private_key_attribute_count;
	(void)public_key;
	(void)private_key;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_WrapKey(CK_SESSION_HANDLE session, struct _CK_MECHANISM *mechanism,
    CK_OBJECT_HANDLE wrapping_key, CK_OBJECT_HANDLE key, unsigned char
    *wrapped_key, unsigned long *wrapped_key_len)
{
	(void)session;
	(void)mechanism;
	(void)wrapping_key;
	(void)key;
	(void)wrapped_key;
	(void)wrapped_key_len;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_UnwrapKey(CK_SESSION_HANDLE session, struct _CK_MECHANISM *mechanism,
    CK_OBJECT_HANDLE unwrapping_key, unsigned char *wrapped_key,
    unsigned long wrapped_key_len, struct _CK_ATTRIBUTE *templ, unsigned
    long attribute_count, CK_OBJECT_HANDLE *key)
{
	(void)session;
	(void)mechanism;
	(void)unwrapping_key;
	(void)wrapped_key;
	(void)wrapped_key_len;
	(void)templ;
	(void)attribute_count;
	(void)key;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_DeriveKey(CK_SESSION_HANDLE session, struct _CK_MECHANISM *mechanism,
    CK_OBJECT_HANDLE base_key, struct _CK_ATTRIBUTE *templ, unsigned
    long attribute_count, CK_OBJECT_HANDLE *key)
{
	(void)session;
	(void)mechanism;
	(void)base_key;
	(void)templ;
	(void)attribute_count;
	(void)key;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_SeedRandom(CK_SESSION_HANDLE session, unsigned char *seed, unsigned long seed_len)
{
	(void)session;
	(void)seed;
	(void)seed_len;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_GenerateRandom(CK_SESSION_HANDLE session, unsigned char *random_data, unsigned long
    random_len)
{
	(void)session;
	(void)random_data;
	(void)random_len;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_GetFunctionStatus(CK_SESSION_HANDLE session)
{
	(void)session;
	/* legacy parallel functions (section 5.20) */
	return CKR_FUNCTION_NOT_PARALLEL;
}

CK_RV
C_CancelFunction(CK_SESSION_HANDLE session)
{
	(void)session;
	/* legacy parallel functions (section 5.20) */
	return CKR_FUNCTION_NOT_PARALLEL;
}
