/* Error names. Every fos_ call that can fail returns 0 or a negative errno. */
#ifndef FOS_ERROR_H
#define FOS_ERROR_H

/* A short message for a negative errno returned by fos (e.g. -EHOSTDOWN ->
 * "destination core is dead"); never NULL. */
const char *fos_strerror(int err);
/* The errno's symbolic name ("EHOSTDOWN"), or "E?" for one fos never returns. */
const char *fos_err_name(int err);

#endif
