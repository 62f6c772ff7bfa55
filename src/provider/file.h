/* The file provider: a directory of manifests, read recursively (*.yaml, *.yml, *.json), watched
 * with inotify and applied to the store file by file. A file that fails to parse keeps every
 * object it held; an object that fails validation keeps its last valid version. */
#ifndef TR_PROVIDER_FILE_H
#define TR_PROVIDER_FILE_H

#include <stdbool.h>
#include <stdint.h>

struct tr_store;
struct tr_fileprov;

/* Creates a provider for dir feeding store. watch: also set up inotify. Returns NULL (errno
 * set) when dir cannot be opened. Control thread only. */
struct tr_fileprov *tr_fileprov_new(const char *dir, struct tr_store *store, bool watch);
void tr_fileprov_free(struct tr_fileprov *p);
/* Reads every file under the directory that changed since it was last read (all of them the
 * first time). Returns the number of problems found in the files read. */
int tr_fileprov_scan(struct tr_fileprov *p);
/* How many times a file was read so far (logs and tests). */
uint64_t tr_fileprov_reads(const struct tr_fileprov *p);
/* The inotify descriptor to poll for readability, or -1. */
int tr_fileprov_fd(const struct tr_fileprov *p);
/* Drains inotify events and marks the files they name. Returns true when there were events.
 * Nothing is read until tr_fileprov_flush. */
bool tr_fileprov_handle(struct tr_fileprov *p);
/* Are files marked (events not yet acted on)? */
bool tr_fileprov_pending(const struct tr_fileprov *p);
/* Is a marked file still open for writing (modified since its last close)? */
bool tr_fileprov_busy(const struct tr_fileprov *p);
/* Reads the marked files whose writers are done (all of them with force), forgets deleted
 * ones, or rescans after an overflow. Returns true when the store may have changed. */
bool tr_fileprov_flush(struct tr_fileprov *p, bool force);

/* Loads one file into the store now (add, replace, delete what it no longer holds).
 * Exposed for tests. Returns the number of problems. */
int tr_fileprov_load(struct tr_fileprov *p, const char *path);
/* Forgets a file: deletes the objects it held. */
void tr_fileprov_forget(struct tr_fileprov *p, const char *path);

#endif
