/* Compound files ([MS-CFB], "Compound File Binary File Format"), the
 * structured storage Windows Installer packages are made of: a bounded
 * reader that checks every structure of an untrusted file against its
 * size before anything is read through it, and a writer that makes a new
 * compound file from one it read, with one root stream set and some left
 * out (what embedding an MSI signature needs).
 *
 * The reader holds the tables (FAT, mini FAT, directory), never a whole
 * stream: cfb_read hands a stream's bytes on in pieces. */
#ifndef SIGNET_CFB_H
#define SIGNET_CFB_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define CFB_NOSTREAM	0xFFFFFFFFu	/* [MS-CFB] 2.6.1: no sibling/child */
#define CFB_ROOT_ID	0		/* the root storage's directory entry */

/* [MS-CFB] 2.6.1 Object Type */
enum cfb_type {
	CFB_UNUSED = 0,
	CFB_STORAGE = 1,
	CFB_STREAM = 2,
	CFB_ROOT = 5,
};

/* One directory entry ([MS-CFB] 2.6.1) as read; sizes already checked. */
struct cfb_entry {
	uint8_t name[64];	/* UTF-16LE, ending with its NUL */
	uint16_t name_len;	/* bytes, the NUL included: 2..64, even */
	uint8_t type;		/* enum cfb_type */
	uint8_t color;
	uint32_t left, right, child;
	uint8_t clsid[16];
	uint8_t state[4];
	uint8_t times[16];	/* creation and modification FILETIMEs */
	uint32_t start;
	uint64_t size;
};

struct cfb;

/* Where cfb_read and cfb_write hand their bytes, in order. */
typedef int (*cfb_out_fn)(void *arg, const void *p, size_t n);

/* Reads and checks the compound file of size bytes in fd (header, DIFAT,
 * FAT, mini FAT, directory tree, every stream's chain). 0, or
 * SIGNET_ERR_INVALID, _TRUNCATED or _TOO_LARGE with m saying what is
 * wrong. fd stays the caller's and must stay open while *out is used. */
int cfb_open(int fd, uint64_t size, struct cfb **out, char *m, size_t mlen)
    SIGNET_WUR;
void cfb_free(struct cfb *c);

/* The directory entry id (NULL past the directory). */
const struct cfb_entry *cfb_entry(const struct cfb *c, uint32_t id);
/* The entries of storage id in the order of its tree (a sorted order by
 * [MS-CFB] 2.6.4), *n of them; NULL and 0 for a stream. */
const uint32_t *cfb_children(const struct cfb *c, uint32_t id, uint32_t *n);
/* The entry named name (ASCII) in storage id, or CFB_NOSTREAM. */
uint32_t cfb_find(const struct cfb *c, uint32_t storage, const char *name);
/* The name of e for messages: ASCII, MSI's packed names unpacked,
 * other characters as '?'. */
void cfb_name_text(const struct cfb_entry *e, char *out, size_t cap);

/* Hands the bytes of stream id (the root: the mini stream) to fn. */
int cfb_read(const struct cfb *c, uint32_t id, cfb_out_fn fn, void *arg,
    char *m, size_t mlen) SIGNET_WUR;

/* What cfb_write changes in the root storage; names are ASCII. */
struct cfb_edit {
	const char *const *drop;	/* root streams left out */
	size_t ndrop;
	const char *set;		/* a root stream added or replaced, */
	const unsigned char *data;	/* with these len bytes */
	size_t len;
};

/* Writes, through fn, a compound file with the streams, storages,
 * CLSIDs, state bits and times of c and the changes of e; every
 * storage's tree is rebuilt as a balanced red-black tree in the order it
 * had. The sector size stays that of c. */
int cfb_write(const struct cfb *c, const struct cfb_edit *e, cfb_out_fn fn,
    void *arg, char *m, size_t mlen) SIGNET_WUR;

#endif
