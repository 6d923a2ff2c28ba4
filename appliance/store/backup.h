/* Backups of the appliance's state: the database (a compacted LMDB copy
 * taken in one read transaction) and the artifact store. Keys stay in the
 * token and are never part of a backup. */
#ifndef SIGNET_BACKUP_H
#define SIGNET_BACKUP_H

#include <stddef.h>

#include "err.h"
#include "store.h"

/* Writes a backup of the open store s and the artifacts under state_dir
 * into dir (created; it must not hold a backup already:
 * SIGNET_ERR_EXISTS). Safe while signetd serves: every artifact a
 * committed request names was in place before its commit, so copying the
 * database first and the artifacts after gives all the database refers
 * to. *artifacts is the number of artifact files copied. */
int backup_create(struct store *s, const char *state_dir, const char *dir,
    int *artifacts) SIGNET_WUR;

/* 1 when dir holds a backup made by backup_create. */
int backup_is_backup(const char *dir);

/* Restores the backup in dir into state_dir, whose signetd must be
 * stopped (the caller holds the state lock). The database that was there
 * is kept beside it, renamed; its path goes into old[len] ("" when there
 * was none). Artifacts already present are kept. */
int backup_restore(const char *dir, const char *state_dir, char *old,
    size_t len, int *artifacts) SIGNET_WUR;

#endif
