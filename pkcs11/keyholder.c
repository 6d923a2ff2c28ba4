/* signet-keyholder: the only Signet process that loads the PKCS#11 module
 * and knows the PIN. It answers framed requests from signetd on one socket
 * (pkcs11/PROTOCOL.md) and treats signetd as untrusted, as OpenSSH's
 * monitor treats its unprivileged child: a malformed or unexpected message
 * ends the process instead of being answered. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "khjournal.h"
#include "log.h"
#include "num.h"
#include "khproto.h"
#include "token.h"

/* Everything a secret passes through (the PIN file's contents and every
 * received frame, which may be a LOGIN) lives in one locked mapping that
 * is excluded from core dumps. */
struct secmem {
	uint8_t *base;
	size_t size;
	uint8_t *frame;		/* KH_MAX_FRAME */
	uint8_t *pin;		/* SIGNET_KH_MAX_PIN + 2 */
};

/* The keyholder's state, as OpenSSH's monitor keeps one: each message
 * names the states it is allowed in (handlers[].permit), and a message
 * in any other state is a protocol violation. Logged in is for good: the
 * keyholder has no logout. */
enum kh_state {
	KH_ST_LOCKED = 1 << 0,		/* not logged in */
	KH_ST_ACTIVE = 1 << 1,		/* logged in */
};
#define KH_ST_ANY	(KH_ST_LOCKED | KH_ST_ACTIVE)

static struct token *kh_tok;
static struct khj *kh_journal;
static enum kh_state kh_state = KH_ST_LOCKED;
/* wrong PINs since this keyholder started (SIGNET_KH_MAX_PIN_FAILURES) */
static unsigned kh_pin_failures;
static bool kh_no_generate;
/* The PIN buffer in the locked mapping, and the console connection a
 * LOGIN_FD passed (-1 outside of one). */
static uint8_t *kh_pin;
static int kh_console_fd = -1;

/* Handlers' return for a request handed to a signing worker, which
 * answers it itself. */
#define KH_QUEUED	1

/* SIGN requests go to the signing workers, one per token session
 * (token_sign), and are answered when done, in any order: a reply names
 * its request's id. Everything else is answered by the main thread before
 * it reads the next frame, so a LOGIN or a GENERATE is over before
 * anything sent after it begins. */
struct job {
	uint32_t id;
	struct kh_sign_req q;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t work;		/* a job queued, or stop */
	pthread_cond_t room;		/* a request answered */
	struct job jobs[SIGNET_KH_MAX_INFLIGHT];	/* ring */
	size_t head, njobs;
	/* ids of the SIGNs taken and not yet answered: a request may not
	 * reuse one */
	uint32_t inflight[SIGNET_KH_MAX_INFLIGHT];
	size_t ninflight;
	pthread_t th[SIGNET_KH_MAX_SESSIONS];
	unsigned nth;
	bool stop;
} kh_pool = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.room = PTHREAD_COND_INITIALIZER,
};

/* One frame at a time on the socket: the workers and the main thread
 * answer on it. */
static pthread_mutex_t kh_send_mu = PTHREAD_MUTEX_INITIALIZER;
static int kh_fd = -1;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: signet-keyholder {--fd N | --listen-fd N "
	    "--peer-user USER} --module PATH --journal DIR [--token LABEL] "
	    "[--pin-file PATH] [--sessions N] [--no-generate] [--debug]\n");
	exit(2);
}

static int
harden(void)
{
	struct rlimit rl = { 0, 0 };

	/* No core file and no ptrace by the same uid: either would hand out
	 * the PIN and the token session. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 ||
	    setrlimit(RLIMIT_CORE, &rl) != 0) {
		log_err("cannot disable core dumps: %s", strerror(errno));
		return SIGNET_ERR_INTERNAL;
	}
	/* a vanished signetd shows up as EPIPE from send, not a signal */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return SIGNET_ERR_INTERNAL;
	return 0;
}

static int
secmem_init(struct secmem *m)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t need = KH_MAX_FRAME + SIGNET_KH_MAX_PIN + 2;
	void *p;

	memset(m, 0, sizeof(*m));
	if (page <= 0)
		return SIGNET_ERR_INTERNAL;
	m->size = (need + (size_t)page - 1) / (size_t)page * (size_t)page;
	p = mmap(NULL, m->size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		log_err("mmap: %s", strerror(errno));
		return SIGNET_ERR_NOMEM;
	}
	m->base = p;
	if (mlock(m->base, m->size) != 0) {
		log_err("cannot lock %zu bytes for secrets (RLIMIT_MEMLOCK?): "
		    "%s", m->size, strerror(errno));
		return SIGNET_ERR_INTERNAL;
	}
	if (madvise(m->base, m->size, MADV_DONTDUMP) != 0) {
		log_err("madvise(MADV_DONTDUMP): %s", strerror(errno));
		return SIGNET_ERR_INTERNAL;
	}
	m->frame = m->base;
	m->pin = m->base + KH_MAX_FRAME;
	return 0;
}

static void
secmem_free(struct secmem *m)
{
	if (m->base == NULL)
		return;
	OPENSSL_cleanse(m->base, m->size);
	munlock(m->base, m->size);
	munmap(m->base, m->size);
	m->base = NULL;
}

/* Reads the PIN into pin[SIGNET_KH_MAX_PIN + 2]. The file's path is
 * configuration, its contents the secret: it must be a regular file of
 * ours that nobody else can read or change. */
static int
read_pin_file(const char *path, uint8_t *pin, size_t *len)
{
	struct stat sb;
	ssize_t got;
	size_t n = 0, cap = SIGNET_KH_MAX_PIN + 2;
	int fd = -1, r = SIGNET_ERR_CONFIG;

	*len = 0;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY |
	    O_CLOEXEC)) < 0) {
		log_err("PIN file %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) != 0) {
		log_err("PIN file %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		log_err("PIN file %s is not a regular file", path);
		goto out;
	}
	if (sb.st_uid != geteuid()) {
		log_err("PIN file %s is owned by uid %lu, not by the "
		    "keyholder's uid %lu; refusing it", path,
		    (unsigned long)sb.st_uid, (unsigned long)geteuid());
		goto out;
	}
	if ((sb.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		log_err("PIN file %s has mode %04o: group or others may "
		    "access it; refusing it (chmod 600)", path,
		    (unsigned)(sb.st_mode & 07777));
		goto out;
	}
	while (n < cap) {
		got = read(fd, pin + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			log_err("PIN file %s: %s", path, strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	/* one trailing newline is the editor's, not the PIN's */
	if (n > 0 && pin[n - 1] == '\n')
		n--;
	if (n > 0 && pin[n - 1] == '\r')
		n--;
	if (n == 0 || n > SIGNET_KH_MAX_PIN || memchr(pin, '\0', n) != NULL) {
		log_err("PIN file %s: the PIN must be 1 to %d bytes of text",
		    path, SIGNET_KH_MAX_PIN);
		goto out;
	}
	*len = n;
	r = 0;
 out:
	if (r != 0)
		OPENSSL_cleanse(pin, cap);
	if (fd >= 0)
		close(fd);
	return r;
}

/* Handlers. Each decodes its request and writes its reply into rep. A
 * SIGNET_ERR_PROTOCOL return means the request itself was malformed: the
 * keyholder exits. Any other error becomes a failure reply. */

static int
h_status(uint32_t reqid, struct rd *req, struct wbuf *rep)
{
	struct kh_status st;
	int r;

	(void)reqid;
	if ((r = khproto_dec_status_req(req)) != 0)
		return r;
	if ((r = token_status(kh_tok, &st)) != 0)
		return r;
	return khproto_enc_status_rep(rep, &st);
}

static int
h_list_keys(uint32_t reqid, struct rd *req, struct wbuf *rep)
{
	struct kh_key_info keys[KH_LIST_PAGE];
	uint32_t offset, total;
	size_t n;
	int r;

	(void)reqid;
	if ((r = khproto_dec_list_req(req, &offset)) != 0)
		return r;
	if ((r = token_list(kh_tok, offset, keys, KH_LIST_PAGE, &n,
	    &total)) != 0)
		return r;
	return khproto_enc_list_rep(rep, total, keys, n);
}

static int
h_pubkey(uint32_t reqid, struct rd *req, struct wbuf *rep)
{
	char id[KH_KEY_ID_HEX + 1];
	uint8_t *der = NULL;
	size_t len;
	int r;

	(void)reqid;
	if ((r = khproto_dec_pubkey_req(req, id)) != 0)
		return r;
	if ((r = token_pubkey(kh_tok, id, &der, &len)) != 0)
		return r;
	r = khproto_enc_pubkey_rep(rep, der, len);
	OPENSSL_free(der);
	return r;
}

/* Journal lines (PROTOCOL.md, "Journal"). The fields are fixed words,
 * numbers, hex and text the decoders have checked, quoted by khj_quote. */

static const char *
mech_name(int mech)
{
	return mech == KH_MECH_RSA_PKCS1 ? "rsa-pkcs1" :
	    mech == KH_MECH_RSA_PSS ? "rsa-pss" : "ecdsa";
}

static const char *
hash_name(int hash)
{
	return hash == KH_HASH_SHA256 ? "sha256" :
	    hash == KH_HASH_SHA384 ? "sha384" : "sha512";
}

static const char *
error_word(int code)
{
	switch (code) {
	case 0:
		return "ok";
	case SIGNET_ERR_PIN_INCORRECT:
		return "pin-incorrect";
	case SIGNET_ERR_PIN_LOCKED:
		return "pin-locked";
	case SIGNET_ERR_FORBIDDEN:
		return "refused";
	case SIGNET_ERR_INVALID:
		return "invalid";
	case SIGNET_ERR_UNAVAILABLE:
		return "unavailable";
	default:
		return "token";
	}
}

/* A SIGN's journal line, written once the token has taken the operation
 * and before it signs: its fsync runs while the token signs, and the
 * signature is handed out only once the line is on disk. */
struct sign_line {
	const struct kh_sign_req *q;
	uint64_t ticket, seq;
};

static int
journal_sign(void *arg)
{
	struct sign_line *l = arg;
	const struct kh_sign_req *q = l->q;
	char fields[SIGNET_KH_MAX_JOURNAL_LINE], ref[2 * KH_MAX_REF + 8];
	char hex[2 * KH_MAX_DIGEST + 1];
	size_t i;
	int n, r;

	for (i = 0; i < q->dlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", q->dgst[i]);
	hex[2 * q->dlen] = '\0';
	if (khj_quote(ref, sizeof(ref), q->ref) != 0)
		return SIGNET_ERR_INTERNAL;
	n = snprintf(fields, sizeof(fields), "\"op\":\"sign\",\"keyId\":\"%s\","
	    "\"mechanism\":\"%s\",\"hash\":\"%s\",\"digest\":\"%s\","
	    "\"purpose\":\"%s\",\"ref\":%s", q->key_id, mech_name(q->mech),
	    hash_name(q->hash), hex, q->purpose == KH_PURPOSE_REQUEST ?
	    "request" : "certificate", ref);
	if (n < 0 || (size_t)n >= sizeof(fields))
		return SIGNET_ERR_INTERNAL;
	if ((r = khj_write(kh_journal, fields, &l->ticket, &l->seq)) != 0)
		log_err("journal: cannot record a signature with key %s; "
		    "withheld", q->key_id);
	return r;
}

/* The token did not sign what line seq announced. */
static void
journal_sign_failed(const struct sign_line *l, int code)
{
	char fields[128];

	snprintf(fields, sizeof(fields), "\"op\":\"sign-failed\","
	    "\"signSeq\":%" PRIu64 ",\"result\":\"%s\"", l->seq,
	    error_word(code));
	if (khj_append(kh_journal, fields) != 0)
		log_err("journal: cannot record that a signature failed");
}

static void
journal_login(const char *via, int code)
{
	char fields[256];

	snprintf(fields, sizeof(fields), "\"op\":\"login\",\"via\":\"%s\","
	    "\"ok\":%s,\"result\":\"%s\",\"failures\":%u", via,
	    code == 0 ? "true" : "false", error_word(code), kh_pin_failures);
	if (khj_append(kh_journal, fields) != 0)
		log_err("journal: cannot record a login");
}

/* Signs q on session sess and writes the reply into rep. */
static int
do_sign(unsigned sess, const struct kh_sign_req *q, struct wbuf *rep)
{
	struct sign_line line = { q, 0, 0 };
	uint8_t sig[KH_MAX_SIG];
	size_t len = 0;
	int r;

	r = token_sign(kh_tok, sess, q, journal_sign, &line, sig, &len);
	/* a signature the journal does not hold is not handed out */
	if (line.ticket != 0 && khj_sync(kh_journal, line.ticket) != 0) {
		OPENSSL_cleanse(sig, sizeof(sig));
		log_err("journal: cannot record a signature with key %s; "
		    "withheld", q->key_id);
		return SIGNET_ERR_IO;
	}
	if (r != 0) {
		if (line.ticket != 0)
			journal_sign_failed(&line, r);
		return r;
	}
	log_debug("signed with key %s (mechanism %d, hash %d) for %s",
	    q->key_id, q->mech, q->hash, q->ref);
	r = khproto_enc_sign_rep(rep, sig, len);
	OPENSSL_cleanse(sig, sizeof(sig));
	return r;
}

static bool
inflight_has(uint32_t id)
{
	size_t i;

	for (i = 0; i < kh_pool.ninflight; i++) {
		if (kh_pool.inflight[i] == id)
			return true;
	}
	return false;
}

/* With kh_pool.mu held. */
static void
inflight_drop(uint32_t id)
{
	size_t i;

	for (i = 0; i < kh_pool.ninflight; i++) {
		if (kh_pool.inflight[i] == id) {
			kh_pool.inflight[i] =
			    kh_pool.inflight[--kh_pool.ninflight];
			return;
		}
	}
}

/* Whether a request may carry id: not one of a SIGN still in flight. */
static bool
id_free(uint32_t id)
{
	bool used;

	pthread_mutex_lock(&kh_pool.mu);
	used = inflight_has(id);
	pthread_mutex_unlock(&kh_pool.mu);
	return !used;
}

/* The reply to request id: its frame is rep, or a failure reply for code
 * r. Errors in sending are the reader's to notice (EOF). */
static int
answer(uint32_t id, int r, struct wbuf *rep)
{
	if (r != 0) {
		wbuf_free(rep);
		wbuf_init(rep, KH_MAX_FRAME);
		if ((r = khproto_enc_failure(rep, r, signet_strerror(r))) != 0)
			return r;
	}
	if (khproto_set_id(rep->buf, rep->len, id) != 0)
		return SIGNET_ERR_INTERNAL;
	pthread_mutex_lock(&kh_send_mu);
	r = khproto_send(kh_fd, rep->buf, rep->len);
	pthread_mutex_unlock(&kh_send_mu);
	return r;
}

/* A signing worker: session number (uintptr_t)arg, its jobs from the
 * queue until stop. A job queued when stop comes is dropped unanswered:
 * signetd is gone or broke the protocol. */
static void *
sign_worker(void *arg)
{
	unsigned sess = (unsigned)(uintptr_t)arg;
	struct wbuf rep;
	struct job j;
	uint32_t id;
	int r;

	for (;;) {
		pthread_mutex_lock(&kh_pool.mu);
		while (kh_pool.njobs == 0 && !kh_pool.stop)
			pthread_cond_wait(&kh_pool.work, &kh_pool.mu);
		if (kh_pool.stop) {
			pthread_mutex_unlock(&kh_pool.mu);
			return NULL;
		}
		j = kh_pool.jobs[kh_pool.head];
		kh_pool.head = (kh_pool.head + 1) % SIGNET_KH_MAX_INFLIGHT;
		kh_pool.njobs--;
		pthread_mutex_unlock(&kh_pool.mu);

		wbuf_init(&rep, KH_MAX_FRAME);
		r = do_sign(sess, &j.q, &rep);
		if (r != 0)
			log_debug("SIGN: %s", signet_strerror(r));
		if (answer(j.id, r, &rep) != 0)
			log_debug("signetd went away");
		wbuf_free(&rep);
		id = j.id;
		OPENSSL_cleanse(&j, sizeof(j));

		pthread_mutex_lock(&kh_pool.mu);
		inflight_drop(id);
		pthread_cond_signal(&kh_pool.room);
		pthread_mutex_unlock(&kh_pool.mu);
	}
}

/* One worker per token session (one at least, which answers that there
 * is no token). */
static int
pool_start(void)
{
	unsigned i, n = token_sessions(kh_tok);

	if (n == 0)
		n = 1;
	for (i = 0; i < n; i++) {
		if (pthread_create(&kh_pool.th[i], NULL, sign_worker,
		    (void *)(uintptr_t)i) != 0) {
			log_err("cannot start signing worker %u", i + 1);
			return SIGNET_ERR_INTERNAL;
		}
		kh_pool.nth++;
	}
	return 0;
}

/* Lets the workers finish what they are signing and joins them. */
static void
pool_stop(void)
{
	unsigned i;

	pthread_mutex_lock(&kh_pool.mu);
	kh_pool.stop = true;
	pthread_cond_broadcast(&kh_pool.work);
	pthread_mutex_unlock(&kh_pool.mu);
	for (i = 0; i < kh_pool.nth; i++)
		pthread_join(kh_pool.th[i], NULL);
	kh_pool.nth = 0;
	OPENSSL_cleanse(kh_pool.jobs, sizeof(kh_pool.jobs));
}

/* SIGN: checked whole here, signed by a worker. The main thread waits for
 * room when SIGNET_KH_MAX_INFLIGHT requests are in flight, and reads no
 * further meanwhile. */
static int
h_sign(uint32_t reqid, struct rd *req, struct wbuf *rep)
{
	struct job *j;
	size_t tail;
	int r;

	(void)rep;
	pthread_mutex_lock(&kh_pool.mu);
	while (kh_pool.ninflight >= SIGNET_KH_MAX_INFLIGHT)
		pthread_cond_wait(&kh_pool.room, &kh_pool.mu);
	tail = (kh_pool.head + kh_pool.njobs) % SIGNET_KH_MAX_INFLIGHT;
	j = &kh_pool.jobs[tail];
	if ((r = khproto_dec_sign_req(req, &j->q)) != 0) {
		pthread_mutex_unlock(&kh_pool.mu);
		return r;
	}
	j->id = reqid;
	kh_pool.njobs++;
	kh_pool.inflight[kh_pool.ninflight++] = reqid;
	pthread_cond_signal(&kh_pool.work);
	pthread_mutex_unlock(&kh_pool.mu);
	return KH_QUEUED;
}

static int
h_generate(uint32_t reqid, struct rd *req, struct wbuf *rep)
{
	char fields[SIGNET_KH_MAX_JOURNAL_LINE], admin[2 * KH_MAX_REF + 8];
	char label[2 * SIGNET_KH_MAX_LABEL + 8];
	struct kh_gen_req q;
	struct kh_key_info k;
	int r, n;

	(void)reqid;
	if ((r = khproto_dec_gen_req(req, &q)) != 0)
		return r;
	memset(&k, 0, sizeof(k));
	r = kh_no_generate ? SIGNET_ERR_FORBIDDEN :
	    token_generate(kh_tok, &q, &k);
	if (khj_quote(admin, sizeof(admin), q.admin) != 0 ||
	    khj_quote(label, sizeof(label), q.label) != 0)
		return SIGNET_ERR_INTERNAL;
	n = snprintf(fields, sizeof(fields), "\"op\":\"generate\",\"ok\":%s,"
	    "\"result\":\"%s\",\"admin\":%s,\"label\":%s,\"keyType\":\"%s\","
	    "\"bits\":%u,\"keyId\":\"%s\"", r == 0 ? "true" : "false",
	    error_word(r), admin, label, q.type == KH_KEY_RSA ? "rsa" : "ec",
	    q.bits, k.id);
	if (n < 0 || (size_t)n >= sizeof(fields) ||
	    khj_append(kh_journal, fields) != 0) {
		/* the key exists now, but nobody is told of it */
		log_err("journal: cannot record a key generation");
		return SIGNET_ERR_IO;
	}
	if (r != 0)
		return r;
	log_info("generated key %s for %s", k.id, q.admin);
	return khproto_enc_gen_rep(rep, &k);
}

/* One login attempt, counted against SIGNET_KH_MAX_PIN_FAILURES and
 * journaled. After the cap no attempt reaches the token until the
 * keyholder is restarted (which signetd, having dropped its privileges,
 * cannot do), so a compromised signetd gets that many guesses and the
 * token's own counter is never run down by it. */
static int
try_login(const char *via, const uint8_t *pin, size_t len)
{
	int r;

	if (kh_pin_failures >= SIGNET_KH_MAX_PIN_FAILURES) {
		log_warn("login refused: %u wrong PINs since the keyholder "
		    "started", kh_pin_failures);
		r = SIGNET_ERR_FORBIDDEN;
	} else {
		r = token_login(kh_tok, pin, len);
		if (r == SIGNET_ERR_PIN_INCORRECT)
			kh_pin_failures++;
		if (r == 0)
			kh_state = KH_ST_ACTIVE;
	}
	journal_login(via, r);
	return r;
}

static int
h_login(uint32_t reqid, struct rd *req, struct wbuf *rep)
{
	const uint8_t *pin;
	size_t len;
	int r;

	(void)reqid;
	/* the PIN stays in the locked frame buffer, wiped after dispatch */
	if ((r = khproto_dec_login_req(req, &pin, &len)) != 0)
		return r;
	if ((r = try_login("login", pin, len)) != 0)
		return r;
	return khproto_enc_login_rep(rep);
}

/* LOGIN_FD (PROTOCOL.md): the PIN comes straight from the officer's
 * console connection, whose descriptor signetd passed along, so that
 * signetd never holds it. The console is a peer of its own: what it sends
 * wrong is a failed login, never a violation by signetd. */

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits for events on fd until the deadline: 0, or SIGNET_ERR_UNAVAILABLE
 * when the time is up or the peer hung up without data. */
static int
wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd p;
	uint64_t now;
	int n;

	for (;;) {
		if ((now = now_ms()) >= deadline)
			return SIGNET_ERR_UNAVAILABLE;
		p.fd = fd;
		p.events = events;
		p.revents = 0;
		n = poll(&p, 1, (int)(deadline - now));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return SIGNET_ERR_UNAVAILABLE;
		if (n == 0)
			continue;
		if (p.revents & events)
			return 0;
		return SIGNET_ERR_UNAVAILABLE;
	}
}

/* Exactly n bytes from the console, or SIGNET_ERR_UNAVAILABLE. The socket
 * is signetd's too and blocking: every read is non-blocking after poll. */
static int
console_read(int fd, uint8_t *p, size_t n, uint64_t deadline)
{
	ssize_t got;
	size_t off = 0;
	int r;

	while (off < n) {
		if ((r = wait_fd(fd, POLLIN, deadline)) != 0)
			return r;
		got = recv(fd, p + off, n - off, MSG_DONTWAIT);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0)
			return SIGNET_ERR_UNAVAILABLE;
		off += (size_t)got;
	}
	return 0;
}

/* The console's PIN frame: u32 length (1..SIGNET_KH_MAX_PIN, checked
 * before anything else is read), then the PIN, no NUL. Read into the
 * locked buffer; nothing past the frame is read. */
static int
read_pin_frame(int fd, uint8_t *pin, size_t *len)
{
	uint64_t deadline = now_ms() + KH_PIN_FRAME_TIMEOUT_MS;
	uint8_t hdr[KH_FRAME_HDR];
	struct rd r;
	uint32_t n;
	int e;

	*len = 0;
	if ((e = console_read(fd, hdr, sizeof(hdr), deadline)) != 0)
		return e;
	rd_init(&r, hdr, sizeof(hdr));
	if (rd_u32(&r, &n) != 0 || n == 0 || n > SIGNET_KH_MAX_PIN)
		return SIGNET_ERR_INVALID;
	if ((e = console_read(fd, pin, n, deadline)) != 0)
		return e;
	if (memchr(pin, '\0', n) != NULL)
		return SIGNET_ERR_INVALID;
	*len = n;
	return 0;
}

/* The answer the console reads after its PIN frame: u32 length + a JSON
 * object made only of fixed words and numbers (the keyholder parses no
 * JSON and quotes nothing it was sent). */
static int
answer_console(int fd, const struct kh_login_result *res)
{
	static const struct {
		int code;
		const char *message;
	} words[] = {
		/* the word is the error table's (err.h); the text is ours */
		{ SIGNET_ERR_PIN_INCORRECT,
		    "the PIN is incorrect; the token counts failed tries" },
		{ SIGNET_ERR_PIN_LOCKED,
		    "the user PIN is locked; the security officer PIN must "
		    "unlock it" },
		{ SIGNET_ERR_TOKEN,
		    "the token refused or failed the login" },
		{ SIGNET_ERR_INVALID,
		    "the PIN must be 1 to 128 bytes of text" },
		{ SIGNET_ERR_UNAVAILABLE,
		    "no PIN arrived in time" },
		{ SIGNET_ERR_FORBIDDEN,
		    "the keyholder refuses further logins (too many wrong "
		    "PINs since it started, or the token has one try left); "
		    "restart signetd" },
	};
	uint64_t deadline = now_ms() + KH_PIN_FRAME_TIMEOUT_MS;
	uint8_t buf[KH_MAX_CONSOLE_ANSWER];
	const char *error = "internal", *message = "internal error";
	size_t i, len, off = 0;
	ssize_t w;
	int n, r;

	if (res->code == 0) {
		n = snprintf((char *)buf + KH_FRAME_HDR,
		    sizeof(buf) - KH_FRAME_HDR, "{\"op\":\"token-login\","
		    "\"ok\":true,\"loggedIn\":true,\"tokenFlags\":%lu}",
		    (unsigned long)res->flags);
	} else {
		for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
			if (words[i].code == res->code) {
				error = signet_err_wire(res->code);
				message = words[i].message;
			}
		}
		n = snprintf((char *)buf + KH_FRAME_HDR,
		    sizeof(buf) - KH_FRAME_HDR, "{\"op\":\"token-login\","
		    "\"ok\":false,\"error\":\"%s\",\"message\":\"%s\","
		    "\"tokenFlags\":%lu}", error, message,
		    (unsigned long)res->flags);
	}
	if (n <= 0 || (size_t)n >= sizeof(buf) - KH_FRAME_HDR)
		return SIGNET_ERR_INTERNAL;
	buf[0] = 0;
	buf[1] = 0;
	buf[2] = (uint8_t)(n >> 8);
	buf[3] = (uint8_t)n;
	len = KH_FRAME_HDR + (size_t)n;
	while (off < len) {
		if ((r = wait_fd(fd, POLLOUT, deadline)) != 0)
			return r;
		w = send(fd, buf + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0)
			return SIGNET_ERR_UNAVAILABLE;
		off += (size_t)w;
	}
	return 0;
}

/* Only a connected unix stream socket can be an officer's console. */
static bool
console_fd_ok(int fd)
{
	struct stat sb;
	socklen_t len;
	int v;

	if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISSOCK(sb.st_mode))
		return false;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) != 0 ||
	    v != AF_UNIX)
		return false;
	len = sizeof(v);
	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) == 0 &&
	    v == SOCK_STREAM;
}

static int
h_login_fd(uint32_t reqid, struct rd *req, struct wbuf *rep)
{
	struct kh_login_result res = { SIGNET_ERR_INTERNAL, 0, false };
	struct kh_status st;
	size_t len = 0;
	int r;

	(void)reqid;
	if ((r = khproto_dec_login_fd_req(req)) != 0)
		return r;
	if (!console_fd_ok(kh_console_fd)) {
		log_err("LOGIN_FD: the descriptor is not a unix stream socket");
		return SIGNET_ERR_PROTOCOL;
	}
	res.code = read_pin_frame(kh_console_fd, kh_pin, &len);
	if (res.code == 0) {
		/* tried once, as for LOGIN; a wrong PIN is never retried */
		res.code = try_login("console", kh_pin, len);
		if (res.code != 0 && res.code != SIGNET_ERR_PIN_INCORRECT &&
		    res.code != SIGNET_ERR_PIN_LOCKED &&
		    res.code != SIGNET_ERR_FORBIDDEN)
			res.code = SIGNET_ERR_TOKEN;
	} else {
		journal_login("console", res.code);
	}
	OPENSSL_cleanse(kh_pin, SIGNET_KH_MAX_PIN + 2);
	/* the token's own retry counter state, for the officer to see */
	if (token_status(kh_tok, &st) == 0)
		res.flags = st.flags;
	res.answered = answer_console(kh_console_fd, &res) == 0;
	log_info("console token login: %s%s", res.code == 0 ? "success" :
	    signet_strerror(res.code), res.answered ? "" :
	    " (the console did not get the answer)");
	close(kh_console_fd);
	kh_console_fd = -1;
	return khproto_enc_login_fd_rep(rep, &res);
}

/* The states each message is allowed in (PROTOCOL.md, "States"). */
static const struct handler {
	uint8_t type;
	const char *name;
	int (*fn)(uint32_t, struct rd *, struct wbuf *);
	unsigned permit;	/* enum kh_state bits */
} handlers[] = {
	{ KH_MSG_STATUS,    "STATUS",    h_status,    KH_ST_ANY },
	{ KH_MSG_LIST_KEYS, "LIST_KEYS", h_list_keys, KH_ST_ANY },
	{ KH_MSG_PUBKEY,    "PUBKEY",    h_pubkey,    KH_ST_ANY },
	{ KH_MSG_SIGN,      "SIGN",      h_sign,      KH_ST_ACTIVE },
	{ KH_MSG_GENERATE,  "GENERATE",  h_generate,  KH_ST_ACTIVE },
	{ KH_MSG_LOGIN,     "LOGIN",     h_login,     KH_ST_LOCKED },
	{ KH_MSG_LOGIN_FD,  "LOGIN_FD",  h_login_fd,  KH_ST_LOCKED },
};

static const struct handler *
lookup(uint8_t type)
{
	size_t i;

	for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		if (handlers[i].type == type)
			return &handlers[i];
	}
	return NULL;
}

/* Serves requests until signetd closes the socket (0) or breaks the
 * protocol (SIGNET_ERR_PROTOCOL). */
static int
serve(int fd, uint8_t *frame)
{
	const struct handler *h;
	struct wbuf rep;
	struct rd body;
	uint32_t id;
	uint8_t type;
	size_t len;
	bool dup;
	int r;

	for (;;) {
		r = khproto_recv_fd(fd, frame, &len, &kh_console_fd);
		if (r == SIGNET_ERR_KEYHOLDER) {
			log_debug("signetd closed the connection");
			return 0;
		}
		if (r != 0) {
			log_err("protocol violation: frame length out of "
			    "range or descriptors refused; exiting");
			return SIGNET_ERR_PROTOCOL;
		}
		if (khproto_open(frame, len, &type, &id, &body) != 0) {
			log_err("protocol violation: malformed frame; exiting");
			return SIGNET_ERR_PROTOCOL;
		}
		if ((h = lookup(type)) == NULL) {
			log_err("protocol violation: unknown message type "
			    "0x%02x; exiting", type);
			return SIGNET_ERR_PROTOCOL;
		}
		/* a descriptor comes with LOGIN_FD and nothing else */
		if ((type == KH_MSG_LOGIN_FD) != (kh_console_fd >= 0)) {
			log_err("protocol violation: %s %s a descriptor; "
			    "exiting", h->name, kh_console_fd >= 0 ?
			    "carries" : "lacks");
			return SIGNET_ERR_PROTOCOL;
		}
		/* two answers with one id could not be told apart */
		dup = !id_free(id);
		if (dup || (h->permit & kh_state) == 0) {
			if (dup)
				log_err("protocol violation: %s with the id "
				    "of a request in flight; exiting", h->name);
			else
				log_err("protocol violation: %s while %s; "
				    "exiting", h->name,
				    kh_state == KH_ST_ACTIVE ? "logged in" :
				    "not logged in");
			if (kh_console_fd >= 0)
				close(kh_console_fd);
			kh_console_fd = -1;
			return SIGNET_ERR_PROTOCOL;
		}
		wbuf_init(&rep, KH_MAX_FRAME);
		r = h->fn(id, &body, &rep);
		OPENSSL_cleanse(frame, len);
		if (kh_console_fd >= 0) {
			close(kh_console_fd);
			kh_console_fd = -1;
		}
		if (r == SIGNET_ERR_PROTOCOL) {
			log_err("protocol violation: malformed %s request; "
			    "exiting", h->name);
			wbuf_free(&rep);
			return r;
		}
		if (r == KH_QUEUED) {
			wbuf_free(&rep);
			continue;
		}
		if (r != 0)
			log_debug("%s: %s", h->name, signet_strerror(r));
		r = answer(id, r, &rep);
		wbuf_free(&rep);
		if (r != 0) {
			log_debug("signetd went away");
			return 0;
		}
	}
}

/* A keyholder of its own unit (signet-keyholder.socket hands it the
 * listening socket): takes the first connection whose peer is user, by
 * the kernel's word (SO_PEERCRED, unix(7)); anyone else's is closed
 * unanswered. The listening socket is closed then: one connection, one
 * keyholder, as when signetd starts it. Returns the connection or a
 * negative SIGNET_ERR_*. */
static int
accept_peer(int lfd, const char *user)
{
	struct passwd *pw;
	struct ucred uc;
	socklen_t len;
	uid_t want;
	int c, r = SIGNET_ERR_CONFIG;

	if ((pw = getpwnam(user)) == NULL) {
		log_err("--peer-user %s does not exist", user);
		goto out;
	}
	want = pw->pw_uid;
	for (;;) {
		if ((c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			log_err("accept: %s", strerror(errno));
			r = SIGNET_ERR_IO;
			goto out;
		}
		len = sizeof(uc);
		if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0 &&
		    len == sizeof(uc) && uc.uid == want) {
			r = c;
			goto out;
		}
		log_err("refused a connection from uid %ld (pid %ld): only "
		    "%s may connect", len == sizeof(uc) ? (long)uc.uid : -1L,
		    len == sizeof(uc) ? (long)uc.pid : -1L, user);
		close(c);
	}
 out:
	close(lfd);
	return r;
}

static int
parse_fd(const char *s, int *fd)
{
	long v;

	if (num_parse_long(s, 3, INT_MAX, &v) != 0)
		return SIGNET_ERR_INVALID;
	*fd = (int)v;
	return 0;
}

static int
parse_sessions(const char *s, unsigned *n)
{
	long v;

	if (num_parse_long(s, 1, SIGNET_KH_MAX_SESSIONS, &v) != 0)
		return SIGNET_ERR_INVALID;
	*n = (unsigned)v;
	return 0;
}

int
main(int argc, char **argv)
{
	const char *module = NULL, *label = NULL, *pin_file = NULL;
	const char *journal = NULL, *peer_user = NULL;
	char jerr[512], fields[128];
	struct secmem sm = { 0 };
	struct stat sb;
	size_t pinlen = 0;
	long ncpu;
	unsigned sessions = 0;
	int i, fd = -1, lfd = -1, debug = 0, r = SIGNET_ERR_INTERNAL;

	log_init("signet-keyholder", 0);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--debug") == 0)
			debug = 1;
		else if (strcmp(argv[i], "--no-generate") == 0)
			kh_no_generate = true;
		else if (i + 1 >= argc)
			usage();
		else if (strcmp(argv[i], "--fd") == 0) {
			if (parse_fd(argv[++i], &fd) != 0)
				usage();
		} else if (strcmp(argv[i], "--listen-fd") == 0) {
			if (parse_fd(argv[++i], &lfd) != 0)
				usage();
		} else if (strcmp(argv[i], "--sessions") == 0) {
			if (parse_sessions(argv[++i], &sessions) != 0)
				usage();
		} else if (strcmp(argv[i], "--peer-user") == 0)
			peer_user = argv[++i];
		else if (strcmp(argv[i], "--module") == 0)
			module = argv[++i];
		else if (strcmp(argv[i], "--token") == 0)
			label = argv[++i];
		else if (strcmp(argv[i], "--pin-file") == 0)
			pin_file = argv[++i];
		else if (strcmp(argv[i], "--journal") == 0)
			journal = argv[++i];
		else
			usage();
	}
	/* exactly one of a connection and a listening socket; who may
	 * connect to a listening one is not left open */
	if ((fd < 0) == (lfd < 0) || (lfd >= 0) != (peer_user != NULL) ||
	    module == NULL || journal == NULL)
		usage();
	log_init("signet-keyholder", debug);
	if ((r = harden()) != 0)
		goto out;
	if (lfd >= 0) {
		if (fstat(lfd, &sb) != 0 || !S_ISSOCK(sb.st_mode)) {
			log_err("--listen-fd %d is not a socket", lfd);
			r = SIGNET_ERR_CONFIG;
			goto out;
		}
		if ((fd = accept_peer(lfd, peer_user)) < 0) {
			r = fd;
			fd = -1;
			goto out;
		}
	}
	if (fstat(fd, &sb) != 0 || !S_ISSOCK(sb.st_mode)) {
		log_err("--fd %d is not a socket", fd);
		r = SIGNET_ERR_CONFIG;
		goto out;
	}
	/* nothing signetd left open may reach the module */
	closefrom(fd + 1);
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
		r = SIGNET_ERR_INTERNAL;
		goto out;
	}
	/* no journal, no signatures: it is checked before anything else */
	if ((r = khj_open(journal, &kh_journal, jerr, sizeof(jerr))) != 0) {
		log_err("%s; refusing to start", jerr);
		goto out;
	}
	snprintf(fields, sizeof(fields), "\"op\":\"start\",\"pid\":%ld,"
	    "\"generate\":%s", (long)getpid(), kh_no_generate ? "false" :
	    "true");
	if ((r = khj_append(kh_journal, fields)) != 0) {
		log_err("journal %s cannot be written; refusing to start",
		    journal);
		goto out;
	}
	if ((r = secmem_init(&sm)) != 0)
		goto out;
	kh_pin = sm.pin;
	/* before the module is loaded: nothing of it runs with the PIN
	 * file open or the PIN in memory unless we got this far */
	if (pin_file != NULL &&
	    (r = read_pin_file(pin_file, sm.pin, &pinlen)) != 0)
		goto out;
	/* by default a session per CPU: SoftHSM signs on the keyholder's
	 * own CPUs, a network HSM on its own */
	if (sessions == 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		sessions = ncpu < 1 ? 1 : ncpu > SIGNET_KH_MAX_SESSIONS ?
		    SIGNET_KH_MAX_SESSIONS : (unsigned)ncpu;
	}
	if ((r = token_open(module, label, sessions, &kh_tok)) != 0)
		goto out;
	if (pinlen > 0) {
		/* Tried once. On failure the keyholder stays up but locked,
		 * so an officer can log in from the console. */
		if (try_login("pin-file", sm.pin, pinlen) != 0)
			log_err("login with the PIN file failed; the token "
			    "stays locked");
		OPENSSL_cleanse(sm.pin, SIGNET_KH_MAX_PIN + 2);
		pinlen = 0;
	} else {
		log_info("no PIN file: the token stays locked until LOGIN");
	}
	kh_fd = fd;
	if ((r = khj_flusher_start(kh_journal)) == 0 &&
	    (r = pool_start()) == 0)
		r = serve(fd, sm.frame);
	pool_stop();
 out:
	token_close(kh_tok);
	khj_close(kh_journal);
	secmem_free(&sm);
	if (fd >= 0)
		close(fd);
	return r == 0 ? 0 : 1;
}
