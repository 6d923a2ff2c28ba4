/* signet: local administration of an appliance (keys in the token,
 * certificates, the declarative configuration). Reads signetd's
 * configuration and starts its own keyholder. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <jansson.h>

#include "audit.h"
#include "audit_cli.h"
#include "backup.h"
#include "cas.h"
#include "catalog.h"
#include "config.h"
#include "khclient.h"
#include "log.h"
#include "num.h"
#include "prompt.h"
#include "table.h"
#include "keys.h"
#include "signet_ci.h"
#include "signet_admin.h"
#include "signet_limits.h"
#include "signetd_common.h"
#include "store.h"
#include "users.h"

struct cli {
	struct config cfg;
	struct kh *kh;
	int json;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: signet -c CONFIG COMMAND ...\n"
	    "       signet NETWORK-COMMAND ... (an appliance's API; "
	    "signet submit --help)\n"
	    "\n"
	    "  key list [--json]                    keys in the token\n"
	    "  key generate --label L --type T      T: rsa3072 rsa4096 p256 p384\n"
	    "  key csr --key K --subject S [--out F]\n"
	    "                                       PKCS#10 request made with token key K\n"
	    "  key self-signed --key K --subject S [--days N] [--out F]\n"
	    "                                       self-signed code-signing test certificate\n"
	    "  apply [--dry-run] FILE               load the declarative configuration\n"
	    "  user password NAME                   set a user's password (read from stdin)\n"
	    "  admin backup DIR                     consistent copy of the database and\n"
	    "                                       artifacts while signetd serves\n"
	    "  admin restore DIR                    bring a backup back (signetd stopped)\n"
	    "  audit verify FILE                    check an audit export's hash chain\n"
	    "                                       (needs no -c CONFIG)\n"
	    "  audit reconcile                      every signature in the keyholder's\n"
	    "                                       journal against an approved request\n"
	    "\n"
	    "Network commands (no -c CONFIG; --url or SIGNET_URL ...):\n"
	    "  submit --project P --policy S --artifact FILE [--wait] [--output F]\n"
	    "  resubmit ID --policy S    status ID    download ID --output F\n"
	    "  approve ID    deny ID    cancel ID    login --username U\n"
	    "  admin RESOURCE VERB ...   administration: projects, policies, users,\n"
	    "                            identities, build-systems, keys, certificates,\n"
	    "                            token, export, apply (signet admin --help)\n"
	    "\n"
	    "S is a name such as \"CN=Example Release Signing,O=Example\".\n"
	    "K is a key label or id (signet key list).\n");
}

static int
cli_keyholder(struct cli *c)
{
	struct kh_spawn_opts o;
	char path[PATH_MAX];

	if (c->kh != NULL)
		return 0;
	if (signet_keyholder_path(c->cfg.keyholder, path, sizeof(path)) != 0) {
		fprintf(stderr, "signet: signet-keyholder not found; set "
		    "[token] keyholder\n");
		return -1;
	}
	memset(&o, 0, sizeof(o));
	o.path = path;
	o.module = c->cfg.module;
	o.token_label = c->cfg.token_label;
	o.pin_file = c->cfg.pin_file;
	o.env = (const char *const *)c->cfg.env;
	o.user = c->cfg.token_user;
	o.journal = c->cfg.kh_journal;
	o.no_generate = c->cfg.kh_no_generate != 0;
	if (kh_spawn(&o, &c->kh) != 0) {
		fprintf(stderr, "signet: cannot start the keyholder\n");
		return -1;
	}
	return 0;
}

static int
cli_write(const char *out, const char *text)
{
	FILE *f = stdout;

	if (out != NULL && (f = fopen(out, "w")) == NULL) {
		fprintf(stderr, "signet: %s: %s\n", out, strerror(errno));
		return 1;
	}
	fputs(text, f);
	if (f != stdout && fclose(f) != 0) {
		fprintf(stderr, "signet: %s: %s\n", out, strerror(errno));
		return 1;
	}
	return 0;
}

static const char *cli_actor(void);
static int cli_open_store(struct cli *c, struct store **s);

/* Local administration acts as the system, named after the login. */
static struct keys_actor
cli_keys_actor(void)
{
	struct keys_actor who = { "system", cli_actor() };

	return who;
}

static int
cmd_key_list(struct cli *c)
{
	json_t *a = NULL;
	int r;

	if (cli_keyholder(c) != 0)
		return 1;
	if ((r = keys_list(c->kh, &a)) != 0) {
		fprintf(stderr, "signet: listing keys failed: %s\n",
		    signet_strerror(r));
		return 1;
	}
	if (c->json) {
		json_dumpf(a, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	} else {
		static const char *const cols[] = { "id", "label", "type",
		    "bits", NULL };

		table_print(a, cols);
	}
	json_decref(a);
	return 0;
}

static int
cmd_key_generate(struct cli *c, const char *label, const char *type)
{
	struct keys_actor who = cli_keys_actor();
	struct kh_key_info ki;
	struct store *s = NULL;
	char msg[256];
	int r, unaudited;

	if (label == NULL || type == NULL) {
		fprintf(stderr, "signet: key generate needs --label and --type\n");
		return 2;
	}
	if (keys_type_find(type) == NULL) {
		fprintf(stderr, "signet: unknown key type '%s' (%s)\n", type,
		    keys_type_names());
		return 2;
	}
	if (cli_keyholder(c) != 0)
		return 1;
	/* a store that cannot be opened leaves the key unaudited, as
	 * keys_generate reports */
	if (cli_open_store(c, &s) != 0)
		s = NULL;
	r = keys_generate(c->kh, s, &who, label, type, &ki, &unaudited, msg,
	    sizeof(msg));
	store_close(s);
	if (r != 0) {
		fprintf(stderr, "signet: %s\n", msg);
		return 1;
	}
	printf("%s\n", ki.id);
	if (unaudited)
		fprintf(stderr, "signet: the key was generated but the audit "
		    "log could not record it\n");
	return 0;
}

static int
cmd_key_cert(struct cli *c, int csr, const char *key, const char *subject,
    int days, const char *out)
{
	struct keys_actor who = cli_keys_actor();
	char key_id[KH_KEY_ID_HEX + 1], msg[256];
	char *pem = NULL;
	int r, rc = 1;

	if (key == NULL || subject == NULL) {
		fprintf(stderr, "signet: --key and --subject are required\n");
		return 2;
	}
	if (cli_keyholder(c) != 0)
		return 1;
	r = csr ? keys_csr(c->kh, &who, key, subject, NULL, key_id, &pem, msg,
	    sizeof(msg)) : keys_self_signed(c->kh, &who, key, subject, days,
	    key_id, &pem, msg, sizeof(msg));
	if (r != 0)
		fprintf(stderr, "signet: %s\n", msg);
	else
		rc = cli_write(out, pem);
	free(pem);
	return rc;
}

/* Local administration is done by someone logged in to the appliance;
 * the audit log names them. */
static const char *
cli_actor(void)
{
	static char name[80];
	struct passwd *pw = getpwuid(getuid());

	snprintf(name, sizeof(name), "signet-cli:%s", pw ? pw->pw_name : "?");
	return name;
}

static int
cli_open_store(struct cli *c, struct store **s)
{
	if (mkdir(c->cfg.state_dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "signet: %s: %s\n", c->cfg.state_dir,
		    strerror(errno));
		return -1;
	}
	if (store_open_state(c->cfg.state_dir, c->cfg.map_size, s) != 0) {
		fprintf(stderr, "signet: cannot open the database in %s\n",
		    c->cfg.state_dir);
		return -1;
	}
	return 0;
}

/* signet audit reconcile (docs/audit.md): the keyholder's journal against
 * the database, read only. */
static int
cmd_audit_reconcile(struct cli *c)
{
	struct store *s = NULL;
	struct cas *cas = NULL;
	int rc = 2;

	if (cli_open_store(c, &s) != 0)
		return 2;
	if (cas_open(c->cfg.state_dir, &cas) != 0) {
		fprintf(stderr, "signet: cannot open the artifact store under "
		    "%s\n", c->cfg.state_dir);
		goto out;
	}
	rc = audit_cli_reconcile(s, cas, c->cfg.kh_journal, stdout);
out:
	cas_close(cas);
	store_close(s);
	return rc;
}

/* Records a local administrative action in the appliance's audit log. */
static int
cli_audit(struct cli *c, const char *action, const char *target,
    const json_t *details)
{
	struct store *s = NULL;
	struct store_txn *t = NULL;
	int r = -1;

	if (cli_open_store(c, &s) != 0 || store_txn_begin(s, 1, &t) != 0)
		goto out;
	if (audit_append(t, "system", cli_actor(), action, target,
	    details) != 0)
		goto out;
	r = store_txn_commit(&t);
out:
	store_txn_abort(&t);
	store_close(s);
	return r;
}

static int
cmd_user_password(struct cli *c, const char *name)
{
	struct store *s = NULL;
	struct store_txn *t = NULL;
	char pw[SIGNET_MAX_PASSWORD + 2], q[160];
	size_t len;
	int r, rc = 1;

	snprintf(q, sizeof(q), "new password for %s: ", name);
	r = prompt_password(q, pw, sizeof(pw), &len);
	if (r != 0 || len < SIGNET_MIN_PASSWORD || len > SIGNET_MAX_PASSWORD) {
		fprintf(stderr, "signet: a password has %d to %d characters\n",
		    SIGNET_MIN_PASSWORD, SIGNET_MAX_PASSWORD);
		goto out;
	}
	if (users_init() != 0 || cli_open_store(c, &s) != 0 ||
	    store_txn_begin(s, 1, &t) != 0)
		goto out;
	r = users_set_password(t, name, pw, len);
	if (r == SIGNET_ERR_NOT_FOUND) {
		fprintf(stderr, "signet: no user '%s' (add it with apply)\n",
		    name);
		goto out;
	}
	if (r != 0 || (r = audit_append(t, "system", cli_actor(),
	    "user.password-set", name, NULL)) != 0) {
		fprintf(stderr, "signet: %s\n", signet_strerror(r));
		goto out;
	}
	r = store_txn_commit(&t);
	if (r != 0) {
		fprintf(stderr, "signet: %s\n", signet_strerror(r));
		goto out;
	}
	fprintf(stderr, "password of %s set\n", name);
	rc = 0;
out:
	OPENSSL_cleanse(pw, sizeof(pw));
	store_txn_abort(&t);
	store_close(s);
	return rc;
}

/* A consistent backup while signetd serves (store/backup.c). */
static int
cmd_backup(struct cli *c, const char *dir)
{
	struct store *s = NULL;
	int copied, r, rc = 1;

	if (cli_open_store(c, &s) != 0)
		return 1;
	r = backup_create(s, c->cfg.state_dir, dir, &copied);
	if (r == SIGNET_ERR_EXISTS) {
		fprintf(stderr, "signet: %s already holds a backup; use an empty "
		    "directory\n", dir);
		goto out;
	}
	if (r != 0) {
		fprintf(stderr, "signet: the backup into %s failed: %s\n", dir,
		    signet_strerror(r));
		goto out;
	}
	if (cli_audit(c, "appliance.backup", dir, NULL) != 0)
		fprintf(stderr, "signet: the backup was not audited\n");
	printf("backup in %s: the database, with the small artifacts it "
	    "keeps, and %d artifact file(s)\n", dir, copied);
	rc = 0;
out:
	store_close(s);
	return rc;
}

/* Brings a backup back into an appliance whose signetd is stopped; what
 * was there before is kept beside it, renamed. */
static int
cmd_restore(struct cli *c, const char *dir)
{
	char old[PATH_MAX];
	int lock, copied, r;

	if (!backup_is_backup(dir)) {
		fprintf(stderr, "signet: %s is not a signet backup\n", dir);
		return 1;
	}
	if ((lock = signet_state_lock(c->cfg.state_dir)) < 0) {
		fprintf(stderr, "signet: signetd is running on %s; stop it "
		    "before restoring\n", c->cfg.state_dir);
		return 1;
	}
	r = backup_restore(dir, c->cfg.state_dir, old, sizeof(old), &copied);
	close(lock);
	if (r != 0) {
		fprintf(stderr, "signet: restoring %s failed: %s\n", dir,
		    signet_strerror(r));
		return 1;
	}
	if (cli_audit(c, "appliance.restored", dir, NULL) != 0)
		fprintf(stderr, "signet: the restore was not audited\n");
	printf("restored %s (%d artifact file(s) copied); the previous "
	    "database is in %s\n", dir, copied, old[0] != '\0' ? old :
	    "(none)");
	return 0;
}

/* An apply document, read under SIGNET_MAX_APPLY_DOCUMENT: the same bound
 * as a document sent to the admin API. */
static int
cli_load_document(const char *file, json_t **doc)
{
	json_error_t jerr;
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	ssize_t n;
	int fd, rc = -1;

	*doc = NULL;
	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "signet: %s: %s\n", file, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > SIGNET_MAX_APPLY_DOCUMENT) {
		fprintf(stderr, "signet: %s: an apply document is a file of at "
		    "most %d MiB\n", file, SIGNET_MAX_APPLY_DOCUMENT >> 20);
		goto out;
	}
	/* one byte more than the limit shows a file that grew meanwhile */
	if ((buf = malloc(SIGNET_MAX_APPLY_DOCUMENT + 1)) == NULL)
		goto out;
	while (got <= SIGNET_MAX_APPLY_DOCUMENT && (n = read(fd, buf + got,
	    SIGNET_MAX_APPLY_DOCUMENT + 1 - got)) > 0)
		got += (size_t)n;
	if (got > SIGNET_MAX_APPLY_DOCUMENT) {
		fprintf(stderr, "signet: %s: an apply document is a file of at "
		    "most %d MiB\n", file, SIGNET_MAX_APPLY_DOCUMENT >> 20);
		goto out;
	}
	if ((*doc = json_loadb(buf, got, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		fprintf(stderr, "signet: %s:%d:%d: %s\n", file, jerr.line,
		    jerr.column, jerr.text);
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

static int
cmd_apply(struct cli *c, const char *file, int dry_run)
{
	json_t *doc;
	struct store *s = NULL;
	char base[PATH_MAX], err[512];
	int r;

	if (cli_load_document(file, &doc) != 0)
		return 1;
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", file);
	snprintf(base, sizeof(base), "%s", dirname(tmp));
	if (cli_keyholder(c) != 0) {
		json_decref(doc);
		return 1;
	}
	if (cli_open_store(c, &s) != 0) {
		json_decref(doc);
		return 1;
	}
	r = catalog_apply(s, c->kh, doc, base, dry_run, "system",
	    cli_actor(), stdout, err, sizeof(err));
	if (r != 0)
		fprintf(stderr, "signet: %s: %s\n", file, err[0] ? err :
		    signet_strerror(r));
	store_close(s);
	json_decref(doc);
	return r == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "label", required_argument, NULL, 'l' },
		{ "type", required_argument, NULL, 't' },
		{ "key", required_argument, NULL, 'k' },
		{ "subject", required_argument, NULL, 's' },
		{ "days", required_argument, NULL, 'D' },
		{ "out", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli c;
	const char *conf = NULL, *label = NULL, *type = NULL, *key = NULL,
	    *subject = NULL, *out = NULL;
	char err[512];
	int ch, days = 365, dry = 0, rc = 2;
	long v;

	memset(&c, 0, sizeof(c));
	log_init("signet", 0);
	/* the API client commands need no local configuration */
	if (argc > 1 && signet_ci_command(argv[1]))
		return signet_ci_main(argc - 1, argv + 1);
	/* signet admin …: the appliance's API, except backup and restore,
	 * which work on its state directory (-c CONFIG) */
	if (argc > 1 && strcmp(argv[1], "admin") == 0 && (argc == 2 ||
	    (strcmp(argv[2], "backup") != 0 && strcmp(argv[2], "restore") != 0)))
		return signet_admin_main(argc - 1, argv + 1);
	while ((ch = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		if (ch == 'c')
			conf = optarg;
		else {
			usage(ch == 'h' ? stdout : stderr);
			return ch == 'h' ? 0 : 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 3 && strcmp(argv[0], "audit") == 0 &&
	    strcmp(argv[1], "verify") == 0)
		return audit_cli_verify(argv[2]);
	if (argc < 1 || conf == NULL) {
		usage(stderr);
		return 2;
	}
	/* the subcommand's own options */
	const char *cmd = argv[0], *sub = argc > 1 ? argv[1] : "";
	int skip = strcmp(cmd, "key") == 0 || strcmp(cmd, "user") == 0 ||
	    strcmp(cmd, "admin") == 0 || strcmp(cmd, "audit") == 0 ? 2 : 1;
	if (argc < skip) {
		usage(stderr);
		return 2;
	}
	optind = 0;
	argc -= skip - 1;
	argv += skip - 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l': label = optarg; break;
		case 't': type = optarg; break;
		case 'k': key = optarg; break;
		case 's': subject = optarg; break;
		case 'o': out = optarg; break;
		case 'j': c.json = 1; break;
		case 'n': dry = 1; break;
		case 'D':
			if (num_parse_long(optarg, 1, 3650, &v) != 0) {
				fprintf(stderr, "signet: --days must be 1 to "
				    "3650\n");
				return 2;
			}
			days = (int)v;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (config_load(conf, &c.cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "signet: %s\n", err);
		return 1;
	}
	if (strcmp(cmd, "key") == 0 && strcmp(sub, "list") == 0)
		rc = cmd_key_list(&c);
	else if (strcmp(cmd, "key") == 0 && strcmp(sub, "generate") == 0)
		rc = cmd_key_generate(&c, label, type);
	else if (strcmp(cmd, "key") == 0 && strcmp(sub, "csr") == 0)
		rc = cmd_key_cert(&c, 1, key, subject, 0, out);
	else if (strcmp(cmd, "key") == 0 && strcmp(sub, "self-signed") == 0)
		rc = cmd_key_cert(&c, 0, key, subject, days, out);
	else if (strcmp(cmd, "user") == 0 && strcmp(sub, "password") == 0 &&
	    optind == argc - 1)
		rc = cmd_user_password(&c, argv[optind]);
	else if (strcmp(cmd, "admin") == 0 && strcmp(sub, "backup") == 0 &&
	    optind == argc - 1)
		rc = cmd_backup(&c, argv[optind]);
	else if (strcmp(cmd, "admin") == 0 && strcmp(sub, "restore") == 0 &&
	    optind == argc - 1)
		rc = cmd_restore(&c, argv[optind]);
	else if (strcmp(cmd, "apply") == 0 && optind == argc - 1)
		rc = cmd_apply(&c, argv[optind], dry);
	else if (strcmp(cmd, "audit") == 0 && strcmp(sub, "reconcile") == 0 &&
	    optind == argc)
		rc = cmd_audit_reconcile(&c);
	else
		usage(stderr);
	kh_free(c.kh);
	config_free(&c.cfg);
	return rc;
}
