#include <stdio.h>
#include <string.h>

#include "table.h"

/* A column of a table: a member of each item, or a list joined by ",". */
void
table_cell(const json_t *v, char *out, size_t len)
{
	const json_t *e;
	size_t i, used = 0;
	int n;

	out[0] = '\0';
	if (json_is_string(v)) {
		snprintf(out, len, "%s", json_string_value(v));
	} else if (json_is_integer(v)) {
		snprintf(out, len, "%lld", (long long)json_integer_value(v));
	} else if (json_is_boolean(v)) {
		snprintf(out, len, "%s", json_is_true(v) ? "yes" : "no");
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, e) {
			n = snprintf(out + used, len - used, "%s%s", i ? "," : "",
			    json_is_string(e) ? json_string_value(e) :
			    json_is_object(e) && json_is_string(json_object_get(e,
			    "url")) ? json_string_value(json_object_get(e, "url")) :
			    json_is_object(e) && json_is_string(json_object_get(e,
			    "slug")) ? json_string_value(json_object_get(e, "slug")) :
			    json_is_object(e) && json_is_string(json_object_get(e,
			    "name")) ? json_string_value(json_object_get(e, "name")) :
			    "?");
			if (n < 0 || (size_t)n >= len - used)
				break;
			used += (size_t)n;
		}
	} else if (v == NULL || json_is_null(v)) {
		snprintf(out, len, "-");
	}
	/* nothing from the server reaches the terminal as a control */
	for (char *p = out; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

void
table_print(const json_t *items, const char *const *cols)
{
	char cell[256];
	const json_t *it;
	size_t i, c, w[16] = { 0 }, ncols = 0;

	while (cols[ncols] != NULL && ncols < 16)
		ncols++;
	for (c = 0; c < ncols; c++)
		w[c] = strlen(cols[c]);
	json_array_foreach(items, i, it)
		for (c = 0; c < ncols; c++) {
			table_cell(json_object_get(it, cols[c]), cell, sizeof(cell));
			if (strlen(cell) > w[c])
				w[c] = strlen(cell) > 48 ? 48 : strlen(cell);
		}
	for (c = 0; c < ncols; c++) {
		char up[64];
		size_t k;

		for (k = 0; cols[c][k] != '\0' && k < sizeof(up) - 1; k++)
			up[k] = (char)(cols[c][k] >= 'a' && cols[c][k] <= 'z' ?
			    cols[c][k] - 32 : cols[c][k]);
		up[k] = '\0';
		printf("%-*s%s", (int)w[c], up, c + 1 < ncols ? "  " : "\n");
	}
	json_array_foreach(items, i, it)
		for (c = 0; c < ncols; c++) {
			table_cell(json_object_get(it, cols[c]), cell, sizeof(cell));
			printf("%-*.*s%s", (int)w[c], 48, cell,
			    c + 1 < ncols ? "  " : "\n");
		}
}
