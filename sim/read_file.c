#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "sim/read_file.h"

int sim_read_file(const char *path, size_t max, char **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "r");
    if (!f) return -errno;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return -EISDIR;
    }
    /* Read in growing chunks rather than trusting a size: a pipe or a device
     * has none, and a file may change under us. */
    char *b = NULL;
    size_t cap = 0, n = 0, got;
    int r = 0;
    do {
        if (n == cap) {
            if (cap > max) {
                r = -EFBIG;
                break;
            }
            size_t ncap = cap ? cap * 2 : 8192;
            char *nb = realloc(b, ncap + 1);
            if (!nb) {
                r = -ENOMEM;
                break;
            }
            b = nb;
            cap = ncap;
        }
        got = fread(b + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    if (r == 0 && ferror(f)) r = -EIO;
    if (r == 0 && n > max) r = -EFBIG;
    fclose(f);
    if (r != 0) {
        free(b);
        return r;
    }
    if (!b && !(b = malloc(1))) return -ENOMEM;
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}
