/* The origin rules of a signing policy and its project (docs/origin.md):
 * refs, commit ids and repository URLs in one form each, branch
 * patterns, and the rules against a submission's origin data. */
#include <ctype.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jose/b64.h>
#include <jose/jws.h>
#include <jose/openssl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "origin.h"
#include "origin_int.h"
#include "rd.h"
#include "signet_limits.h"

/* --- refs, commits and repository URLs -------------------------------
 *
 * One form each, made in one place: a ref is compared and matched as the
 * full ref (refs/heads/main, refs/tags/v1), a commit id as lowercase hex,
 * a repository URL with only its scheme and host case-folded. Stripping a
 * prefix here and there made "refs/heads/refs/heads/main" the branch
 * main (docs/origin.md, "How values are compared"). */

/* git-check-ref-format(1): what git itself accepts as a ref name. A
 * value git could not have made is nobody's branch or tag. */
int
origin_ref_valid(const char *ref)
{
	static const char bad[] = " ~^:?*[\\";
	size_t i, n = strlen(ref), comp = 0;

	if (n < 6 || n > SIGNET_MAX_ORIGIN_VALUE ||
	    strncmp(ref, "refs/", 5) != 0)
		return 0;
	if (ref[n - 1] == '/' || ref[n - 1] == '.' || strstr(ref, "..") ||
	    strstr(ref, "//") || strstr(ref, "@{") || strstr(ref, "/.") ||
	    strcmp(ref, "@") == 0)
		return 0;
	for (i = 0; i < n; i++) {
		if ((unsigned char)ref[i] < 0x20 || ref[i] == 0x7f ||
		    strchr(bad, ref[i]) != NULL)
			return 0;
		if (ref[i] == '/')
			comp = i + 1;
		/* no component ends in ".lock" */
		if ((i + 1 == n || ref[i + 1] == '/') && i + 1 - comp >= 5 &&
		    strncmp(ref + i - 4, ".lock", 5) == 0)
			return 0;
	}
	return 1;
}

int
origin_ref_full(const char *name, char *out, size_t len)
{
	int n;

	/* git branch refuses "@" as a branch name (git-check-ref-format
	 * --branch) */
	if (name == NULL || name[0] == '\0' || strcmp(name, "@") == 0)
		return SIGNET_ERR_INVALID;
	/* a value starting with refs/ is a full ref; anything else is the
	 * short name of a branch. A branch whose own name starts with
	 * refs/ is therefore sent as its full ref (refs/heads/refs/...) */
	n = strncmp(name, "refs/", 5) == 0 ? snprintf(out, len, "%s", name) :
	    snprintf(out, len, "refs/heads/%s", name);
	if (n < 0 || (size_t)n >= len)
		return SIGNET_ERR_TOO_LARGE;
	return origin_ref_valid(out) ? 0 : SIGNET_ERR_INVALID;
}

/* The branchName form of a full ref, which origin_ref_full turns back
 * into the same ref: a branch by its short name unless that starts with
 * refs/, anything else as the full ref. */
const char *
origin_ref_field(const char *full)
{
	if (strncmp(full, "refs/heads/", 11) == 0 &&
	    strncmp(full + 11, "refs/", 5) != 0)
		return full + 11;
	return full;
}

/* The kind and the short name of a full ref, for the evidence. */
const char *
origin_ref_name(const char *full, const char **type)
{
	if (strncmp(full, "refs/heads/", 11) == 0) {
		*type = "branch";
		return full + 11;
	}
	if (strncmp(full, "refs/tags/", 10) == 0) {
		*type = "tag";
		return full + 10;
	}
	*type = "other";
	return full;
}

/* A commit id: 40 (SHA-1) or 64 (SHA-256) hex digits, in lowercase. */
int
origin_commit_norm(const char *in, char *out, size_t len)
{
	size_t i, n = strlen(in);

	if ((n != 40 && n != 64) || n >= len)
		return SIGNET_ERR_INVALID;
	for (i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)in[i]))
			return SIGNET_ERR_INVALID;
		out[i] = (char)tolower((unsigned char)in[i]);
	}
	out[n] = '\0';
	return 0;
}

/* A repository URL in the one form that is compared: scheme://host/path
 * with scheme and host (RFC 3986 6.2.2.1) in lowercase, one trailing "/"
 * and then one ".git" dropped. The path keeps its case: on a server
 * that tells Owner/App from owner/app they are two repositories. A URL
 * that could be read two ways is no repository URL at all: user
 * information (https://github.com@evil.example/...; ssh's "git@" only),
 * "." or ".." segments, an empty segment, percent-encoding, a query, a
 * fragment, a backslash, white space or control characters. */
int
origin_url_norm(const char *in, char *out, size_t len)
{
	const char *p, *auth, *path, *at;
	size_t n, i, slen;

	if (in == NULL || (p = strstr(in, "://")) == NULL || p == in)
		return SIGNET_ERR_INVALID;
	slen = (size_t)(p - in);
	for (i = 0; i < slen; i++)
		if (!isalpha((unsigned char)in[i]) && (i == 0 ||
		    !(isdigit((unsigned char)in[i]) || in[i] == '+' ||
		    in[i] == '-' || in[i] == '.')))
			return SIGNET_ERR_INVALID;
	for (i = 0; in[i] != '\0'; i++)
		if ((unsigned char)in[i] <= 0x20 || in[i] == 0x7f ||
		    strchr("%?#\\", in[i]) != NULL)
			return SIGNET_ERR_INVALID;
	auth = p + 3;
	if ((path = strchr(auth, '/')) == NULL)
		path = auth + strlen(auth);
	if (path == auth)
		return SIGNET_ERR_INVALID;
	if ((at = memchr(auth, '@', (size_t)(path - auth))) != NULL &&
	    !(slen == 3 && strncasecmp(in, "ssh", 3) == 0 &&
	    at == auth + 3 && strncmp(auth, "git@", 4) == 0))
		return SIGNET_ERR_INVALID;
	if (at != NULL && (at + 1 == path ||
	    memchr(at + 1, '@', (size_t)(path - at - 1)) != NULL))
		return SIGNET_ERR_INVALID;
	if (strlen(in) >= len)
		return SIGNET_ERR_TOO_LARGE;
	snprintf(out, len, "%s", in);
	for (i = 0; i < (size_t)(path - in); i++)
		out[i] = (char)tolower((unsigned char)out[i]);
	n = strlen(out);
	if (n > (size_t)(path - in) + 1 && out[n - 1] == '/')
		out[--n] = '\0';
	if (n > (size_t)(path - in) + 5 && strcmp(out + n - 4, ".git") == 0)
		out[n -= 4] = '\0';
	/* segments: none empty, none "." or ".." */
	for (p = out + (path - in); *p == '/'; ) {
		const char *e = strchr(p + 1, '/');
		size_t sl = e ? (size_t)(e - p - 1) : strlen(p + 1);

		if ((sl == 0 && e != NULL) || (sl == 1 && p[1] == '.') ||
		    (sl == 2 && p[1] == '.' && p[2] == '.'))
			return SIGNET_ERR_INVALID;
		if (e == NULL)
			break;
		p = e;
	}
	return 0;
}

int
origin_check_repository_url(const char *url, char *err, size_t errlen)
{
	char buf[SIGNET_MAX_ORIGIN_VALUE + 1];

	if (url == NULL || origin_url_norm(url, buf, sizeof(buf)) != 0)
		return origin_fail(err, errlen, SIGNET_ERR_INVALID, "'%s' is "
		    "not a plain repository URL (scheme://host/path, without "
		    "user information, \".\" or \"..\" segments, "
		    "percent-encoding, query or fragment), e.g. "
		    "https://github.com/owner/name", url ? url : "(none)");
	return 0;
}

/* --- rules ----------------------------------------------------------- */

/* A pattern in the form of the refs it matches: "refs/..." as written,
 * anything else a pattern of branch names under refs/heads/. */
static void
origin_pattern_full(const char *pat, char *out, size_t len)
{
	snprintf(out, len, "%s%s", strncmp(pat, "refs/", 5) == 0 ? "" :
	    "refs/heads/", pat);
}

int
origin_check_branch_patterns(const json_t *patterns, char *err,
    size_t errlen)
{
	const json_t *e;
	size_t i;

	if (patterns == NULL)
		return 0;
	if (!json_is_array(patterns) ||
	    json_array_size(patterns) > SIGNET_MAX_ALLOWED_BRANCHES)
		return origin_fail(err, errlen, SIGNET_ERR_INVALID,
		    "allowedBranches must be a list of at most %d patterns",
		    SIGNET_MAX_ALLOWED_BRANCHES);
	json_array_foreach(patterns, i, e) {
		const char *pat = json_string_value(e);
		char full[SIGNET_MAX_BRANCH_PATTERN + 16];

		if (!json_is_string(e) || !origin_printable(pat,
		    SIGNET_MAX_BRANCH_PATTERN) || strchr(pat, ' ') != NULL)
			return origin_fail(err, errlen, SIGNET_ERR_INVALID,
			    "allowedBranches entry %zu must be a pattern of "
			    "1-%d printable characters without spaces (main, "
			    "release/*, refs/tags/v*)", i,
			    SIGNET_MAX_BRANCH_PATTERN);
		if (strstr(pat, "**") != NULL)
			return origin_fail(err, errlen, SIGNET_ERR_INVALID,
			    "allowedBranches entry '%s': '**' is not "
			    "supported; '*' matches within one part of a "
			    "name, so list each depth (release/*, "
			    "release/*/*)", pat);
		origin_pattern_full(pat, full, sizeof(full));
		if (full[strlen(full) - 1] == '/' || strstr(full, "//") ||
		    strstr(full, "..") || strstr(full, "/.") ||
		    strcmp(full, "refs/") == 0)
			return origin_fail(err, errlen, SIGNET_ERR_INVALID,
			    "allowedBranches entry '%s' can match no git ref "
			    "(empty part, '..', a part starting with '.', or a "
			    "trailing '/')", pat);
	}
	return 0;
}

/* "a, b, c" of a list of strings, cut to fit */
static void
origin_list_text(const json_t *a, char *out, size_t len)
{
	const json_t *e;
	size_t i, used = 0;
	int n;

	out[0] = '\0';
	json_array_foreach(a, i, e) {
		n = snprintf(out + used, len - used, "%s%s", i ? ", " : "",
		    json_string_value(e));
		if (n < 0 || (size_t)n >= len - used) {
			/* what does not fit is cut off where it can be */
			out[used] = '\0';
			snprintf(out + used, len - used, "%s", len - used > 5 ?
			    ", ..." : "");
			break;
		}
		used += (size_t)n;
	}
}

int
origin_rules(const json_t *project, const json_t *policy,
    const json_t *origin, const json_t *evidence, char *msg, size_t len)
{
	const char *pslug = json_string_value(json_object_get(policy, "slug"));
	const char *prj = json_string_value(json_object_get(project, "slug"));
	const char *repo = json_string_value(json_object_get(origin,
	    "repositoryUrl"));
	const char *branch = json_string_value(json_object_get(origin,
	    "branchName"));
	const char *why = json_string_value(json_object_get(evidence,
	    "reason"));
	const json_t *urls = json_object_get(project, "repositoryUrls");
	const json_t *pats = json_object_get(policy, "allowedBranches"), *e;
	const char *evref = json_string_value(json_object_get(evidence, "ref"));
	char list[160], a[SIGNET_MAX_ORIGIN_VALUE + 16];
	char b[SIGNET_MAX_ORIGIN_VALUE + 16], c1[128], c2[128];
	size_t i;
	int ok;

	msg[0] = '\0';
	if (json_is_true(json_object_get(policy, "requireVerifiedOrigin")) &&
	    !json_is_true(json_object_get(evidence, "verified")))
		return origin_fail(msg, len, SIGNET_ERR_ORIGIN_RULE, "signing "
		    "policy %s/%s requires verified origin (requireVerifiedOrigin)"
		    " and this origin is not verified: %s. Submit as a trusted "
		    "build system's CI identity (client certificate), with its "
		    "issuer's ID token where it has one", prj, pslug,
		    why ? why : "no evidence recorded");
	if (json_array_size(urls) > 0) {
		ok = 0;
		if (repo != NULL && origin_url_norm(repo, a, sizeof(a)) != 0)
			return origin_fail(msg, len, SIGNET_ERR_ORIGIN_RULE,
			    "project %s accepts artifacts from its repositories "
			    "only and this origin's repositoryUrl '%s' is not a "
			    "plain repository URL (user information, \".\" or "
			    "\"..\" segments, percent-encoding, a query or a "
			    "fragment). Send the repository's URL as the "
			    "project lists it", prj, origin_clip(repo, 120, c1,
			    sizeof(c1)));
		json_array_foreach(urls, i, e)
			if (repo != NULL && origin_url_norm(json_string_value(e),
			    b, sizeof(b)) == 0 && strcmp(a, b) == 0)
				ok = 1;
		if (!ok) {
			origin_list_text(urls, list, sizeof(list));
			return origin_fail(msg, len, SIGNET_ERR_ORIGIN_RULE,
			    "project %s accepts artifacts from its repositories "
			    "only (repositoryUrls: %s) and this origin's "
			    "repositoryUrl is %s%s%s. Build from one of them, "
			    "or ask an administrator to add the repository to "
			    "the project", prj, list, repo ? "'" : "",
			    repo ? origin_clip(repo, 120, c1, sizeof(c1)) :
			    "not given", repo ? "'" : "");
		}
	}
	if (json_array_size(pats) > 0) {
		ok = 0;
		if (branch != NULL && origin_ref_full(branch, a,
		    sizeof(a)) != 0)
			return origin_fail(msg, len, SIGNET_ERR_ORIGIN_RULE,
			    "signing policy %s/%s signs builds of allowed "
			    "branches and tags only and this origin's "
			    "branchName '%s' is not a git ref name "
			    "(git-check-ref-format). Send a branch's short "
			    "name or the full ref", prj, pslug,
			    origin_clip(branch, 120, c1, sizeof(c1)));
		/* the evidence and the data it vouches for name one ref */
		if (branch != NULL && evref != NULL && strcmp(evref, a) != 0)
			return origin_fail(msg, len, SIGNET_ERR_ORIGIN_RULE,
			    "signing policy %s/%s: this origin's branchName "
			    "'%s' is not the ref its evidence vouches for; "
			    "submit the build again", prj, pslug,
			    origin_clip(branch, 120, c1, sizeof(c1)));
		/* the full ref against full-ref patterns, FNM_PATHNAME: '*'
		 * stays within one part, so "main" is refs/heads/main only
		 * and "refs/tags/v*" takes no branch (docs/origin.md) */
		json_array_foreach(pats, i, e) {
			origin_pattern_full(json_string_value(e), b, sizeof(b));
			if (branch != NULL && fnmatch(b, a, FNM_PATHNAME) == 0)
				ok = 1;
		}
		if (!ok) {
			origin_list_text(pats, list, sizeof(list));
			return origin_fail(msg, len, SIGNET_ERR_ORIGIN_RULE,
			    "signing policy %s/%s signs builds of these branches "
			    "and tags only (allowedBranches: %s) and this "
			    "origin's branchName is %s%s%s%s%s%s. Build from an "
			    "allowed branch or tag, or change the policy's "
			    "allowedBranches", prj, pslug, list,
			    branch ? "'" : "", branch ? origin_clip(branch, 120,
			    c1, sizeof(c1)) : "not given", branch ? "'" : "",
			    branch ? " (ref " : "", branch ? origin_clip(a, 120,
			    c2, sizeof(c2)) : "", branch ? ")" : "");
		}
	}
	return 0;
}
