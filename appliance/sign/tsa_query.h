/* The checks of an RFC 3161 TimeStampReq before a token is made for it,
 * and the rejection replies (TimeStampResp without a token) that answer a
 * query that fails them. */
#ifndef SIGNET_TSA_QUERY_H
#define SIGNET_TSA_QUERY_H

#include <stddef.h>

#include <openssl/asn1.h>
#include <openssl/ts.h>

#include "err.h"

struct tsa_query {
	int fail_info;		/* TS_INFO_* (PKIFailureInfo bit); -1: none */
	char text[200];		/* the statusString of a rejection */
	int md_nid;		/* the imprint's hash */
	int cert_req;
};

/* der: the whole request body. 0 and *req (TS_REQ_free()) when the query
 * is one a token may be issued for under policy (the configured one);
 * SIGNET_ERR_INVALID with q->fail_info and q->text when not: a body that
 * is not exactly one DER TimeStampReq, version not 1 or an imprint of
 * the wrong length is badDataFormat, a hash other than SHA-256/384/512
 * badAlg, another reqPolicy unacceptedPolicy, any extension
 * unacceptedExtension (RFC 3161 section 2.4.2). */
int tsa_query_check(const unsigned char *der, size_t len,
    const ASN1_OBJECT *policy, struct tsa_query *q, TS_REQ **req) SIGNET_WUR;

/* A TimeStampResp with status rejection (RFC 3161 section 2.4.2), the
 * failure bit fail_info (TS_INFO_*) and text; free *der with
 * OPENSSL_free(). */
int tsa_query_rejection(int fail_info, const char *text, unsigned char **der,
    size_t *len) SIGNET_WUR;

#endif
