/* Error names. Every fos_ call that can fail returns 0 or a negative errno. */
#ifndef FOS_ERROR_H
#define FOS_ERROR_H

/* A short message for a negative errno returned by fos (e.g. -EHOSTDOWN ->
 * "destination core is dead"); never NULL. */
const char *fos_strerror(int err);
/* The errno's symbolic name ("EHOSTDOWN"), or "E?" for one fos never returns. */
const char *fos_err_name(int err);

/* For fos's accessors that have no error to return: a NULL handle where one
 * is required is the caller's bug, stopped here with the call's name rather
 * than left to fault inside fos. */
_Noreturn void fos__null_handle(const char *call);
#define FOS__NEED(h) ((h) ? (void)0 : fos__null_handle(__func__))

#endif
