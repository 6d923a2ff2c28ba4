/* Tables for people: the signet tool prints lists as aligned columns
 * (and as JSON with --json). */
#ifndef SIGNET_TABLE_H
#define SIGNET_TABLE_H

#include <stddef.h>

#include <jansson.h>

/* Prints items (an array of objects) with one column per member named in
 * cols (NULL-terminated, at most 16), headed by the names in capitals.
 * Lists show joined by ","; cells are cut at 48 characters; control
 * characters from the data are shown as '?', so nothing a server or a
 * token sent reaches the terminal as a control sequence. */
void table_print(const json_t *items, const char *const *cols);
/* One cell as table_print shows it, into out[len]. */
void table_cell(const json_t *v, char *out, size_t len);

#endif
