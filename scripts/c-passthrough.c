/*
 * The same passthrough of one file as scripts/passthrough.ts, in C on libfuse 2.9's
 * high-level API with its multithreaded loop (as fuse-native runs it), for
 * scripts/ab.ts: what a request costs without the binding's hop into JavaScript.
 * Not part of snapfuse; built by ab.ts (needs Debian's libfuse-dev):
 *
 *   cc -O2 -o c-passthrough scripts/c-passthrough.c $(pkg-config --cflags --libs fuse)
 *   ./c-passthrough <file> <mountpoint> [extra,fuse,options]   (serves <mountpoint>/file.img)
 */
#define FUSE_USE_VERSION 26
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int backing = -1;
static off_t backing_size;

static int pt_getattr(const char *path, struct stat *st) {
  memset(st, 0, sizeof *st);
  if (strcmp(path, "/") == 0) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    return 0;
  }
  if (strcmp(path, "/file.img") != 0) return -ENOENT;
  st->st_mode = S_IFREG | 0600;
  st->st_nlink = 1;
  st->st_size = backing_size;
  return 0;
}

static int pt_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi) {
  (void)off, (void)fi;
  if (strcmp(path, "/") != 0) return -ENOTDIR;
  fill(buf, ".", NULL, 0);
  fill(buf, "..", NULL, 0);
  fill(buf, "file.img", NULL, 0);
  return 0;
}

static int pt_open(const char *path, struct fuse_file_info *fi) {
  (void)fi;
  return strcmp(path, "/file.img") == 0 ? 0 : -ENOENT;
}

static int pt_read(const char *path, char *buf, size_t len, off_t pos, struct fuse_file_info *fi) {
  (void)path, (void)fi;
  ssize_t n = pread(backing, buf, len, pos);
  return n < 0 ? -errno : (int)n;
}

static int pt_write(const char *path, const char *buf, size_t len, off_t pos, struct fuse_file_info *fi) {
  (void)path, (void)fi;
  ssize_t n = pwrite(backing, buf, len, pos);
  return n < 0 ? -errno : (int)n;
}

static int pt_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
  (void)path, (void)datasync, (void)fi;
  return fdatasync(backing) < 0 ? -errno : 0;
}

static int pt_truncate(const char *path, off_t size) {
  (void)path, (void)size;
  return 0;
}

static struct fuse_operations ops = {
    .getattr = pt_getattr,
    .readdir = pt_readdir,
    .open = pt_open,
    .read = pt_read,
    .write = pt_write,
    .fsync = pt_fsync,
    .truncate = pt_truncate,
};

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s <file> <mountpoint> [fuse options]\n", argv[0]);
    return 2;
  }
  backing = open(argv[1], O_RDWR);
  if (backing < 0) {
    perror(argv[1]);
    return 1;
  }
  backing_size = lseek(backing, 0, SEEK_END);
  char opts[1024];
  snprintf(opts, sizeof opts, "fsname=c-passthrough,subtype=c-passthrough,big_writes,max_write=131072,max_read=131072,attr_timeout=0%s%s",
           argc > 3 ? "," : "", argc > 3 ? argv[3] : "");
  char *fuse_argv[] = {argv[0], argv[2], "-f", "-o", opts, NULL};
  return fuse_main(5, fuse_argv, &ops, NULL);
}
