/* Every limit on something a caller controls, in one place. Exceeding one
 * is a clean error (413 or 400) that names the limit, never a crash. */
#ifndef SIGNET_LIMITS_H
#define SIGNET_LIMITS_H

/* Artifacts: default maximum; signetd.conf [store] max_artifact_size. */
#define SIGNET_DEFAULT_MAX_ARTIFACT	(4ULL << 30)
#define SIGNET_MAX_ARTIFACT_NAME	255

/* Multipart form of a submission. */
/* a backstop: the known fields (4, 6 origin, 32 parameters, the artifact)
 * stay below it, and any other name is refused when it is seen */
#define SIGNET_MAX_FORM_FIELDS		64
#define SIGNET_MAX_FIELD_NAME		64
#define SIGNET_MAX_SLUG			64
#define SIGNET_MAX_DESCRIPTION		4096
#define SIGNET_MAX_PARAMETERS		32
#define SIGNET_MAX_PARAM_VALUE		1024
#define SIGNET_MAX_ORIGIN_VALUE		2048
#define SIGNET_MAX_ID_TOKEN		16384
/* web/multipart.c: the header lines of one part (a Content-Disposition
 * with a 255-byte file name, escaped, and a Content-Type fit many times
 * over); what a body may hold before its first boundary and after its
 * last (clients send none; RFC 2046 5.1.1 allows it), and the spaces
 * after a boundary */
#define SIGNET_MAX_PART_HEADERS		8192
#define SIGNET_MAX_FORM_SLACK		(64 * 1024)

/* Origin verification (appliance/origin/origin.c, docs/origin.md). */
#define SIGNET_MAX_JWKS			(64 * 1024)	/* serialized JWKS */
#define SIGNET_MAX_JWKS_KEYS		16
#define SIGNET_MAX_JWK_KID		256
#define SIGNET_MIN_RSA_BITS		2048
#define SIGNET_MAX_ISSUER		2048
#define SIGNET_MAX_AUDIENCE		256
#define SIGNET_MAX_BUILD_SYSTEM_IDENTITIES 32
#define SIGNET_MAX_CLAIM_VALUE		2048
#define SIGNET_ORIGIN_CLOCK_SKEW_S	60	/* RFC 7519 4.1.4: "some small leeway" */
#define SIGNET_MAX_ALLOWED_BRANCHES	64
#define SIGNET_MAX_BRANCH_PATTERN	256

/* Large uploads and copies whose writer (appliance/lib/bulk.c) may have
 * its threads and four 2 MiB blocks at once: 8 keep both cores busy and
 * take at most 64 MiB and 24 threads; a writer past them works on its
 * caller's thread with one block, so many uploads at once slow down
 * instead of growing signetd. */
#define SIGNET_MAX_BULK_WRITERS		8

/* After a refusal, up to this much more of the unread body is read and
 * dropped, so that a client still sending sees the answer; then the
 * connection is closed (web/http.c, http_close). */
#define SIGNET_MAX_DRAIN		(1024 * 1024)

/* Query strings (web/urlform.c): names are at most SIGNET_MAX_FIELD_NAME. */
#define SIGNET_MAX_QUERY_PARAMS		16
#define SIGNET_MAX_QUERY_VALUE		1024

/* Room for a submission's text fields around its artifact: a body larger
 * than max_artifact_size plus this is refused before it is read. */
#define SIGNET_FORM_OVERHEAD		(1024 * 1024)

/* JSON bodies and documents; a small call's body (decisions, resubmit,
 * login) as a form holds at most this many text fields. */
#define SIGNET_MAX_SMALL_FIELDS		16
#define SIGNET_MAX_JSON_BODY		(64 * 1024)
#define SIGNET_MAX_JSON_DEPTH		16
#define SIGNET_MAX_APPLY_DOCUMENT	(16 * 1024 * 1024)
/* an admin request body: an apply document or a certificate chain */
#define SIGNET_MAX_ADMIN_BODY		(4 * 1024 * 1024)

/* Passwords, wherever they are typed or sent (API, console, CLI): long
 * enough for any passphrase, short enough that Argon2id's input and the
 * mlock'ed console buffer stay small. */
#define SIGNET_MIN_PASSWORD		12
#define SIGNET_MAX_PASSWORD		1024

/* The officer console's protocol (appliance/console/consproto.c): a
 * request from the console is small; a reply carries a request's details
 * (description, parameters, origin). Once a frame has begun, the rest
 * must follow within the timeout, so a stalled peer cannot hold the
 * console server. */
#define SIGNET_MAX_CONSOLE_REQUEST	(64 * 1024)
#define SIGNET_MAX_CONSOLE_REPLY	(1024 * 1024)
#define SIGNET_CONSOLE_FRAME_TIMEOUT_MS	10000

/* A comment on a decision (approve, deny, cancel). */
#define SIGNET_MAX_COMMENT		2048
/* Names of catalog objects: users, identities, certificates, build
 * systems. */
#define SIGNET_MAX_NAME			64
/* A certificate chain (PEM, DER or PKCS#7), and any file an apply
 * document names (chainFile, secretFile, jwksFile). */
#define SIGNET_MAX_CHAIN_BYTES		(1024 * 1024)
#define SIGNET_MAX_REFERENCED_FILE	(1024 * 1024)
/* API paths: segments after /api/v1, and the whole path. */
#define SIGNET_MAX_PATH_SEGMENTS	8
#define SIGNET_MAX_PATH			512
/* How often signetd looks whether a keyholder of its own unit
 * ([keyholder] socket) is still connected. */
#define SIGNET_KH_WATCH_SECONDS		2
/* A Unix socket's path with its NUL: sockaddr_un.sun_path on Linux
 * (unix(7)). */
#define SIGNET_MAX_UNIX_PATH		108

/* Certificates this close to their end are reported (health, lists). */
#define SIGNET_EXPIRY_WARN_DAYS		30
#define SIGNET_MAX_RECORD		(1024 * 1024)

/* Logins (appliance/core/users.c). A failed login for a name that is no
 * user is audited without that name, at most once per this many seconds;
 * the entry counts the attempts since the last one. */
#define SIGNET_UNKNOWN_LOGIN_AUDIT_S	60
/* a user's id: random bytes, stored as hex (sessions are bound to it) */
#define SIGNET_USER_ID_BYTES		16

/* Resubmit: how far back a request's chain of originals is read (each
 * is checked for a deny under the policy resubmitted to). */
#define SIGNET_MAX_RESUBMIT_CHAIN	32

/* Listing. */
#define SIGNET_DEFAULT_PAGE_SIZE	50
#define SIGNET_MAX_PAGE_SIZE		200

/* Keyholder IPC (pkcs11/PROTOCOL.md). */
#define SIGNET_KH_MAX_MSG		16384
#define SIGNET_KH_MAX_LABEL		64
#define SIGNET_KH_MAX_KEYS		256
#define SIGNET_KH_MAX_PIN		128
/* Wrong PINs a keyholder accepts per start before it refuses LOGIN: a
 * compromised signetd gets this many guesses, not the token's counter. */
#define SIGNET_KH_MAX_PIN_FAILURES	3
/* Token sessions the keyholder signs on at once ([token] sessions; the
 * default is the number of CPUs, and the token's ulMaxSessionCount caps
 * it), and requests in flight on the one socket: signetd waits for a free
 * place beyond that, the keyholder stops reading. */
#define SIGNET_KH_MAX_SESSIONS		64
#define SIGNET_KH_MAX_INFLIGHT		128
/* A signed artifact (detached CMS) signet audit reconcile reads. */
#define SIGNET_MAX_AUDIT_CMS		(1 << 20)
/* One line of the keyholder's signing journal (pkcs11/PROTOCOL.md). */
#define SIGNET_KH_MAX_JOURNAL_LINE	1024

/* Certificates: chain length accepted for a policy's certificate. */
#define SIGNET_MAX_CHAIN		8

/* Signing worker pool. */
#define SIGNET_DEFAULT_WORKERS		2
#define SIGNET_MAX_WORKERS		32

/* Notifications (appliance/notify/notify.c). */
#define SIGNET_MAX_WEBHOOK_URL		2048
#define SIGNET_MIN_WEBHOOK_SECRET	16	/* visible ASCII, no space */
#define SIGNET_MAX_WEBHOOK_SECRET	256
#define SIGNET_MAX_WEBHOOK_BODY		(64 * 1024)
#define SIGNET_MAX_EVENT_TYPE		64
#define SIGNET_MAX_MAIL_ADDRESS		254	/* RFC 5321 4.5.3.1.3 */
#define SIGNET_MAX_MAIL_SUBJECT		256
#define SIGNET_MAX_MAIL_TEXT		(64 * 1024)
#define SIGNET_NOTIFY_MAX_ATTEMPTS	1000
#define SIGNET_NOTIFY_MAX_AGE_S		(7 * 86400)

/* Connections signetd opens (appliance/notify/outbound.c): webhooks, the SMTP
 * relay, JWKS URLs. */
#define SIGNET_OUTBOUND_CONNECT_TIMEOUT_MS 10000
#define SIGNET_OUTBOUND_TIMEOUT_MS	30000

/* Refreshing a build system's JWKS from its jwksUrl
 * (appliance/origin/jwks_refresh.c); the body is bounded by SIGNET_MAX_JWKS. */
#define SIGNET_DEFAULT_JWKS_REFRESH_S	3600
#define SIGNET_MAX_JWKS_REFRESH_S	(7 * 86400)

/* HTTPS connections (web/server.c, README "Connections"). One request
 * thread serves one connection, so what a peer that has not yet shown who
 * it is may hold is bounded: each of its connections by time, and their
 * number per address. */
/* the TLS handshake, the request header, and each read or write of a
 * body's buffer (8 KiB) must be done within this; a body that keeps
 * moving may take as long as it needs */
#define SIGNET_HTTP_REQUEST_TIMEOUT_MS	5000
/* an idle keep-alive connection is closed after this */
#define SIGNET_HTTP_KEEP_ALIVE_MS	3000
/* [server] threads and max_connections_per_address: defaults, and the
 * rule that one address may hold at most a quarter of the threads */
#define SIGNET_DEFAULT_HTTP_THREADS	64
#define SIGNET_MAX_HTTP_THREADS		512
#define SIGNET_DEFAULT_CONN_PER_ADDRESS	16
#define SIGNET_CONN_PER_ADDRESS_SHARE	4

/* Authenticode for PE/COFF images (appliance/sign/formats/ac_pe.c). */
/* the DOS header and stub, the PE headers and the section table, which
 * the parser holds: linkers put them in the first 4 KiB (SizeOfHeaders
 * 0x400 to 0x1000), so this leaves room for any stub */
#define SIGNET_MAX_PE_HEADERS		(64 * 1024)
/* the Windows loader's own limit ("PE Format", "COFF File Header") */
#define SIGNET_MAX_PE_SECTIONS		96
/* the 16 data directories "PE Format" defines ("Optional Header Data
 * Directories") */
#define SIGNET_MAX_PE_DATA_DIRS		16
/* the attribute certificate table, read whole for existing signatures: a
 * signature with its chain and timestamp is a few KiB, shim's two
 * Microsoft ones are 19 KiB */
#define SIGNET_MAX_PE_CERT_TABLE	(1024 * 1024)
#define SIGNET_MAX_PE_SIGNATURES	16

/* Audit log (appliance/core/audit.c). */
#define SIGNET_MAX_AUDIT_ENTRY		(64 * 1024)
#define SIGNET_MAX_AUDIT_LINE		(1024 * 1024)
#define SIGNET_MAX_AUDIT_PAGE		1000
#define SIGNET_MAX_AUDIT_ACTION		64

/* Authenticode (appliance/sign/formats/authenticode.c). A SignedData with
 * a chain of SIGNET_MAX_CHAIN certificates and a few nested signatures
 * stays far below 1 MiB; a PE certificate table entry is bounded alike. */
#define SIGNET_MAX_AC_DER		(1024 * 1024)
/* Nested signatures followed when looking for our own certificate: real
 * files carry two or three (SHA-1 and SHA-256 by the vendor). */
#define SIGNET_MAX_AC_NESTED		8
/* A PowerShell script (ac_script.c) is read whole into memory to find its
 * signature block; scripts are kilobytes, a 16 MiB one is not a script. */
#define SIGNET_MAX_SCRIPT		(16 * 1024 * 1024)
/* programName (SpcSpOpusInfo) from a request's parameter or description:
 * what Windows shows in its consent dialog, one line. */
#define SIGNET_MAX_AC_PROGRAM_NAME	256
/* A project's url (the signature's moreInfo link). */
#define SIGNET_MAX_PROJECT_URL		1024

/* Storage under pressure (appliance/store/store.c, the signer). A grower
 * waits at most this long for the transactions open to end; the next
 * write tries again. */
#define SIGNET_STORE_GROW_WAIT_MS	250
/* An eighth of the map's ceiling is kept for changes of what is stored
 * (approvals, signatures, sessions): submissions stop before it. */
#define SIGNET_STORE_RESERVE_DIV	8
/* Small files are kept in the database (STORE_BLOBS), written in the
 * commit that records their request, instead of as files of the
 * artifact store flushed on their own: an artifact of at most
 * SIGNET_INLINE_ARTIFACT_MAX bytes, a signed result (a signature, a
 * signed script) of at most SIGNET_INLINE_RESULT_MAX. */
#define SIGNET_INLINE_ARTIFACT_MAX	(64 * 1024)
#define SIGNET_INLINE_RESULT_MAX	(8 * 1024)
/* What a queued request will still write when it is signed (its result,
 * history, audit entry and notification, about 2.5 KiB measured, and a
 * result kept in the database): a submission is refused unless the
 * queue's results fit as well. */
#define SIGNET_STORE_RESULT_BYTES	(4 * 1024 + SIGNET_INLINE_RESULT_MAX)
/* Submissions stop when the state directory's disk has less than this:
 * a record, its audit entry and LMDB's pages of a commit fit in it. */
#define SIGNET_STORE_MIN_DISK_FREE	(2 * 1024 * 1024)
/* Writes that share one commit (store_write's group commit) at most: the
 * first of a batch waits for the others' checks and records to be made
 * before its flush, and the batch's changed pages stay in memory until
 * it commits. With CivetWeb's 64 threads ([server] threads) two batches
 * take everyone waiting. */
#define SIGNET_STORE_BATCH_MAX		32
/* Default ceiling of the database map ([store] max_map_size): the map is
 * address space until used; 16 GiB is four times the default start. */
#define SIGNET_DEFAULT_MAX_MAP		(16ULL << 30)
/* A submission's idempotency key (Idempotency-Key, idempotencyKey): room
 * for a CI run id, a job and an artifact digest. */
#define SIGNET_MAX_IDEMPOTENCY_KEY	200
/* The metrics text: a few hundred series of requests by project, policy
 * and status, and the fixed rest. */
#define SIGNET_MAX_METRICS_TEXT		(1024 * 1024)
/* [signer] max_queue: the highest limit a configuration may set, and the
 * default (a day of a busy site's builds, a few MiB of records). */
#define SIGNET_MAX_QUEUE_LIMIT		1000000
#define SIGNET_DEFAULT_MAX_QUEUE	10000
/* Retention: requests whose artifacts one sweep removes (the next sweep
 * takes the rest), and the longest pause between sweeps. */
#define SIGNET_RETENTION_BATCH		1000
#define SIGNET_RETENTION_SWEEP_S	3600
/* [server] drain_timeout: how long SIGTERM lets the signer work through
 * the queue before signetd stops (systemd's TimeoutStopSec is 90 s). */
#define SIGNET_DEFAULT_DRAIN_TIMEOUT_S	10
#define SIGNET_MAX_DRAIN_TIMEOUT_S	3600
/* Retry-After of a submission refused for a full queue (RFC 9110 10.2.3):
 * the signer works through a few hundred a second. */
#define SIGNET_QUEUE_RETRY_AFTER_S	5

/* The time-stamping authority (appliance/sign/tsa.c, RFC 3161). */
/* a TimeStampReq is a hash, a policy OID, a nonce and a flag: about 100
 * bytes with SHA-512; the room left is for extensions, which are refused */
#define SIGNET_MAX_TSQ			2048
/* serials reserved per durable write of the high-water mark: a restart
 * skips at most this many */
#define SIGNET_TSA_SERIAL_BLOCK		1000
#define SIGNET_TSA_SERIAL_MAX_BLOCK	1000000
/* issuance is written to the audit log in batches: at most this many
 * tokens or this many seconds per entry (never one entry per token) */
#define SIGNET_TSA_AUDIT_BATCH		1000
#define SIGNET_TSA_AUDIT_INTERVAL_S	60
/* [tsa] accuracy_ms and rate (tokens per second on the [tsa] listener) */
#define SIGNET_TSA_MAX_ACCURACY_MS	60000
#define SIGNET_TSA_MAX_RATE		100000
/* A policy's external TSA (`timestamp: url`, appliance/sign/tsa_client.c):
 * a TimeStampResp with its token and the TSA's chain is a few KiB; a
 * bounded answer, a bounded wait per attempt, and a bounded number of
 * attempts with doubling backoff before the request fails (the signature
 * is made once; only the token is fetched again) */
#define SIGNET_MAX_TSR			(64 * 1024)
#define SIGNET_TSA_URL_TIMEOUT_MS	10000
#define SIGNET_TSA_URL_ATTEMPTS		3
#define SIGNET_TSA_URL_BACKOFF_MS	250
/* timestampUrl and timestampCaPem in a policy */
#define SIGNET_MAX_TSA_URL		512
#define SIGNET_MAX_TSA_CA_PEM		(32 * 1024)

/* Compound files, the container of MSI packages
 * (appliance/sign/formats/cfb.c). A Windows Installer package with its
 * cabinets embedded is rarely beyond a few hundred MiB (larger products
 * ship their cabinets beside it); at 1 GiB the reader holds a FAT of
 * 8 MiB (4 bytes per 512-byte sector) and a map of 2 MiB. */
#define SIGNET_MAX_CFB_SIZE		(1ULL << 30)
/* directory entries: an MSI has one per table, binary and cabinet, a few
 * hundred in large packages; 65536 is 8 MiB of directory */
#define SIGNET_MAX_CFB_ENTRIES		65536
/* storages in storages: MSIs nest one level (embedded transforms) */
#define SIGNET_MAX_CFB_DEPTH		16
/* the \005DigitalSignature stream read into memory: a PKCS#7 with a
 * chain, nested signatures and timestamps is tens of KiB */
#define SIGNET_MAX_CFB_SIGNATURE	(1024 * 1024)

/* Cabinets signed with Authenticode (appliance/sign/formats/ac_cab.c,
 * [MS-CAB] 2.2). check() reads every folder and file entry, so their
 * counts are bounded below the format's 16-bit fields (FCI itself keeps a
 * cabinet below about 65,500 files); a name is the spec's CB_MAX_FILENAME
 * with its NUL; the size is the cabinet SDK's CB_MAX_DISK, the largest
 * cabinet FCI writes (cbCabinet and the offsets are 32 bits); a signature
 * with its chain, timestamps and nested signatures stays far below the
 * signature bound. */
#define SIGNET_MAX_CAB_FOLDERS		4096
#define SIGNET_MAX_CAB_FILES		32768
#define SIGNET_MAX_CAB_NAME		256
#define SIGNET_MAX_CAB_SIZE		0x7FFFFFFFULL
#define SIGNET_MAX_CAB_SIGNATURE	(1024 * 1024)
/* CFDATA blocks in all folders together: a cabinet's 2 GiB in the 32 KiB
 * blocks [MS-CAB] 2.5 allows are 65,536 */
#define SIGNET_MAX_CAB_DATA_BLOCKS	262144

/* Hash signing (appliance/core/hashreq.c) and the PKCS#11 module build
 * machines load (pkcs11/signet_p11*.c). The tool a request names is a
 * process name (16 bytes in /proc/self/comm) with room for a longer
 * one; its file name is an artifact name. The module bounds what it
 * reads from the appliance: a policy chain of a handful of PEM
 * certificates, as many tokens as a build machine could pick from, and
 * a configuration file of a few lines whose longest value is a path, a
 * URL or a bearer token; C_Sign waits at most a week for approvals. */
#define SIGNET_MAX_HASH_TOOL		64
#define SIGNET_P11_MAX_TOKENS		64
#define SIGNET_P11_MAX_CHAIN_PEM	(64 * 1024)
#define SIGNET_P11_MAX_CHAIN		8
#define SIGNET_P11_MAX_CONF_FILE	(16 * 1024)
#define SIGNET_P11_MAX_CONF_VALUE	4096
#define SIGNET_P11_MAX_WAIT_S		(7L * 24 * 3600)

#endif
