/* Fuzz target: WAL recovery. The input becomes the only WAL segment of a fresh data
 * folder, either as raw bytes (first byte even: torn tails, bad lengths, CRC mismatches)
 * or as the payload of one correctly framed record (first byte odd: the entry parser
 * behind the CRC). eng_open must replay what it can, never crash, and the engine must
 * then flush and close cleanly. */
/* link: ax_engine */
#include "engine/engine.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

uint32_t eng__crc32c(uint32_t crc, const void *p, size_t len);

static void rm_rf(const char *path) {
    DIR *d = opendir(path);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            char p[1024];
            snprintf(p, sizeof p, "%s/%s", path, de->d_name);
            struct stat st;
            if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) rm_rf(p); else unlink(p);
        }
        closedir(d);
    }
    rmdir(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char dir[] = "/tmp/auspex-fuzz-wal-XXXXXX";
    if (!mkdtemp(dir)) return 0;
    char wal[128], seg[192];
    snprintf(wal, sizeof wal, "%s/wal", dir);
    mkdir(wal, 0755);
    snprintf(seg, sizeof seg, "%s/0000000000000001.wal", wal);
    int fd = open(seg, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        if (size && (data[0] & 1)) {
            uint8_t hdr[8];
            uint32_t len = (uint32_t)(size - 1), crc = eng__crc32c(0, data + 1, size - 1);
            for (int i = 0; i < 4; i++) {
                hdr[i] = (uint8_t)(len >> (8 * i));
                hdr[4 + i] = (uint8_t)(crc >> (8 * i));
            }
            if (write(fd, hdr, 8) != 8 || write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) {}
        } else if (size) {
            if (write(fd, data, size) != (ssize_t)size) {}
        }
        close(fd);
    }
    eng_opts o = {.path = dir, .nosync = true, .flush_interval_ms = 3600000};
    eng *e = NULL;
    ax_err err;
    if (eng_open(&o, &e, &err) == 0) {
        eng_stats st;
        eng_stats_get(e, &st);
        eng_close(e);
    }
    rm_rf(dir);
    return 0;
}
