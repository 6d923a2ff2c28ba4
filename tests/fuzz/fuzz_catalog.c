/* The declarative document (appliance/core/catalog.c, catalog_apply) as the
 * admin API's POST /api/v1/admin/apply reads it: a JSON body parsed the
 * way api_json_body parses it, applied as a dry run (validated and
 * written in a transaction that is then aborted) against a store that
 * holds a small catalog, so updates and references to stored objects are
 * reached as well as creations. No keyholder: certificates are refused
 * the way a server without a token refuses them.
 *
 * Input: the body.
 *
 * Invariants: a dry run leaves the store as it was; a refusal says why. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "catalog.h"
#include "fuzz.h"
#include "store.h"

#define FZ_CAT_MAP	(64ULL << 20)

/* What the store holds before every input: a certificate record (put
 * directly: apply needs a token for one), then this document. */
static const char fz_base[] =
    "{\"identities\": ["
    "  {\"name\": \"ci-runner\", \"type\": \"client-certificate\","
    "   \"subject\": \"CN=ci-runner,O=Example\","
    "   \"issuer\": \"CN=Example CA,O=Example\"},"
    "  {\"name\": \"ci-other\", \"type\": \"client-certificate\","
    "   \"sha256Fingerprint\": "
    "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}],"
    " \"users\": ["
    "  {\"name\": \"admin\", \"email\": \"admin@example.test\","
    "   \"roles\": [\"administrator\", \"auditor\"]},"
    "  {\"name\": \"officer\", \"roles\": [\"security-officer\"]}],"
    " \"buildSystems\": ["
    "  {\"name\": \"gh\", \"identities\": [\"ci-runner\"], \"preset\": \"github\"}],"
    " \"projects\": ["
    "  {\"slug\": \"app\", \"name\": \"App\","
    "   \"repositoryUrls\": [\"https://github.com/example/app\"],"
    "   \"signingPolicies\": ["
    "    {\"slug\": \"test\", \"name\": \"Test\", \"certificate\": \"test-cert\","
    "     \"purpose\": \"test\", \"submitters\": [\"ci-runner\"]}]}]}";

static struct store *fz_store;
static FILE *fz_report;
static char fz_head[4096];

/* The stored catalog as text, to see that a dry run changed nothing. */
static void
fz_snapshot(char *out, size_t len)
{
	struct store_txn *t = NULL;
	json_t *doc = NULL;
	char *text = NULL;

	if (store_txn_begin(fz_store, 0, &t) != 0 ||
	    catalog_export(t, &doc) != 0 ||
	    (text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		fuzz_fail("the catalog cannot be exported");
	snprintf(out, len, "%s", text);
	free(text);
	json_decref(doc);
	store_txn_abort(&t);
}

static void
fz_init(void)
{
	struct store_txn *t = NULL;
	char dir[512], err[512];
	json_t *doc, *cert;
	const char *base;

	if (fz_store != NULL)
		return;
	if ((base = fuzz_tmpdir()) == NULL)
		fuzz_fail("no scratch directory");
	snprintf(dir, sizeof(dir), "%s/catalog", base);
	if ((fz_report = fopen("/dev/null", "w")) == NULL ||
	    mkdir(dir, 0700) != 0 || store_open(dir, FZ_CAT_MAP, &fz_store) != 0)
		fuzz_fail("the scratch store cannot be opened");
	cert = json_pack("{s:s, s:s, s:s, s:s}", "name", "test-cert", "keyId",
	    "00ff", "purpose", "test", "chainPem", "");
	if (cert == NULL || store_txn_begin(fz_store, 1, &t) != 0 ||
	    store_put_json(t, STORE_CERTIFICATES, "test-cert", cert) != 0 ||
	    store_txn_commit(&t) != 0)
		fuzz_fail("the certificate record cannot be stored");
	json_decref(cert);
	if ((doc = json_loads(fz_base, 0, NULL)) == NULL)
		fuzz_fail("fz_base is not JSON");
	if (catalog_apply(fz_store, NULL, doc, "/nonexistent", 0, "system",
	    "fuzz", fz_report, err, sizeof(err)) != 0)
		fuzz_fail(err);
	json_decref(doc);
	fz_snapshot(fz_head, sizeof(fz_head));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512], now[sizeof(fz_head)];
	json_t *doc;
	int r;

	fz_init();
	/* api_json_body: duplicates are an error; the body is an object */
	doc = json_loadb(size > 0 ? (const char *)data : "", size,
	    JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return 0;
	}
	memset(err, 0, sizeof(err));
	r = catalog_apply(fz_store, NULL, doc, "/nonexistent", 1, "user",
	    "admin", fz_report, err, sizeof(err));
	if (r == SIGNET_ERR_INVALID && err[0] == '\0')
		fuzz_fail("a refused document without a reason");
	json_decref(doc);
	fz_snapshot(now, sizeof(now));
	if (strcmp(now, fz_head) != 0)
		fuzz_fail("a dry run changed the store");
	return 0;
}
