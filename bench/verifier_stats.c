/* The verifier's work on each program of a BPF object (issue 17: the time a one-shot profile spends
 * loading its program). Loads OBJECT `-n` times with the given rodata settings and prints, per
 * program, what the kernel reports with BPF_LOG_STATS: instructions processed (also
 * bpf_prog_info.verified_insns), total and peak states, mark_read, and the verification time
 * (median, min and max of the loads). `-l 1 PROGRAM` or `-l 2 PROGRAM` writes that program's full
 * verifier log of the first load to PROGRAM.log in the working directory.
 *
 * build: cc -O2 -o verifier_stats bench/verifier_stats.c -lbpf
 * usage: verifier_stats [-n LOADS] [-l LEVEL PROGRAM] OBJECT.bpf.o [VAR=VALUE | VAR[I]=VALUE ...]
 * e.g.:  verifier_stats -n 7 build/bpf/cpu.bpf.o filter_pids=1 target_list[0]=1 \
 *          target_list_length=1 python_frames=0
 * Run as root. Programs libbpf would not autoload are skipped, as the daemon's loads skip them. */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PROGS 32
#define MAX_LOADS 64
#define FULL_LOG_SIZE (1u << 29) /* the kernel takes less than 1 GiB */
#define STATS_LOG_SIZE (1u << 16)

struct prog_stats {
  char name[64];
  unsigned verified_insns, xlated_insns;
  int total_states, peak_states, mark_read, max_states_per_insn;
  long usec[MAX_LOADS];
};

static int silent(enum libbpf_print_level level, const char *format, va_list args) {
  return level == LIBBPF_WARN ? vfprintf(stderr, format, args) : 0;
}

/* Sets VAR or VAR[I] of .rodata to VALUE (an integer); returns 0 on success. */
static int set_rodata(struct bpf_object *obj, const char *setting) {
  char name[128];
  unsigned long long value;
  unsigned index = 0;
  const char *eq = strchr(setting, '=');
  if (!eq || (size_t)(eq - setting) >= sizeof(name)) return -1;
  memcpy(name, setting, eq - setting);
  name[eq - setting] = 0;
  value = strtoull(eq + 1, NULL, 0);
  char *bracket = strchr(name, '[');
  if (bracket) {
    index = (unsigned)strtoul(bracket + 1, NULL, 0);
    *bracket = 0;
  }
  struct bpf_map *rodata = NULL, *map;
  bpf_object__for_each_map(map, obj) {
    const char *n = bpf_map__name(map);
    if (strlen(n) >= 7 && strcmp(n + strlen(n) - 7, ".rodata") == 0) rodata = map;
  }
  struct btf *btf = bpf_object__btf(obj);
  if (!rodata || !btf) return -1;
  int sec = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
  if (sec < 0) return -1;
  const struct btf_type *t = btf__type_by_id(btf, sec);
  const struct btf_var_secinfo *v = btf_var_secinfos(t);
  size_t size;
  char *data = (char *)bpf_map__initial_value(rodata, &size);
  for (int i = 0; i < btf_vlen(t); i++, v++) {
    const struct btf_type *var = btf__type_by_id(btf, v->type);
    if (strcmp(btf__name_by_offset(btf, var->name_off), name) != 0) continue;
    const struct btf_type *type = btf__type_by_id(btf, btf__resolve_type(btf, var->type));
    long element = btf__resolve_size(btf, var->type);
    if (btf_is_array(type)) element = btf__resolve_size(btf, btf_array(type)->type);
    if (element <= 0 || element > 8 || v->offset + (index + 1) * element > size) return -1;
    memcpy(data + v->offset + index * element, &value, element); /* little-endian */
    return 0;
  }
  return -1;
}

static int compare_long(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  int loads = 5, level = 0, arg = 1;
  const char *logged = NULL;
  for (; arg < argc && argv[arg][0] == '-'; arg++) {
    if (strcmp(argv[arg], "-n") == 0 && arg + 1 < argc)
      loads = atoi(argv[++arg]);
    else if (strcmp(argv[arg], "-l") == 0 && arg + 2 < argc) {
      level = atoi(argv[++arg]);
      logged = argv[++arg];
    } else
      break;
  }
  if (arg >= argc || loads < 1 || loads > MAX_LOADS) {
    fprintf(stderr, "usage: %s [-n LOADS] [-l LEVEL PROGRAM] OBJECT.bpf.o [VAR=VALUE ...]\n",
            argv[0]);
    return 2;
  }
  const char *path = argv[arg++];
  libbpf_set_print(silent);
  struct prog_stats stats[MAX_PROGS] = {0};
  int nprogs = 0;
  static char stats_log[MAX_PROGS][STATS_LOG_SIZE];
  char *full_log = level ? malloc(FULL_LOG_SIZE) : NULL;

  for (int load = 0; load < loads; load++) {
    struct bpf_object *obj = bpf_object__open_file(path, NULL);
    if (!obj) {
      fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
      return 1;
    }
    for (int i = arg; i < argc; i++) {
      if (set_rodata(obj, argv[i]) != 0) {
        fprintf(stderr, "cannot set %s\n", argv[i]);
        return 1;
      }
    }
    struct bpf_program *prog;
    int p = 0;
    bpf_object__for_each_program(prog, obj) {
      if (p >= MAX_PROGS) break;
      if (strcmp(bpf_program__section_name(prog), "uprobe.session") == 0) {
        /* libbpf 1.1 predates uprobe session programs (as heap_collector.cc does). */
        bpf_program__set_type(prog, BPF_PROG_TYPE_KPROBE);
        bpf_program__set_expected_attach_type(prog, (enum bpf_attach_type)57);
      }
      if (level && load == 0 && strcmp(bpf_program__name(prog), logged) == 0) {
        /* One program's full log (libbpf has one buffer per program). */
        full_log[0] = 0;
        bpf_program__set_log_buf(prog, full_log, FULL_LOG_SIZE);
        bpf_program__set_log_level(prog, level | 4);
      } else {
        stats_log[p][0] = 0;
        bpf_program__set_log_buf(prog, stats_log[p], STATS_LOG_SIZE);
        bpf_program__set_log_level(prog, 4);
      }
      p++;
    }
    if (bpf_object__load(obj) != 0) {
      fprintf(stderr, "load failed: %s\n", strerror(errno));
      if (level)
        fputs(full_log + (strlen(full_log) > 100000 ? strlen(full_log) - 100000 : 0), stderr);
      for (int i = 0; i < p; i++) fputs(stats_log[i], stderr);
      return 1;
    }
    p = 0;
    int k = 0; /* the loaded programs */
    bpf_object__for_each_program(prog, obj) {
      if (p >= MAX_PROGS) break;
      const bool full = level && load == 0 && strcmp(bpf_program__name(prog), logged) == 0;
      const char *log = full ? full_log : stats_log[p];
      p++;
      if (!bpf_program__autoload(prog) || bpf_program__fd(prog) < 0) continue;
      struct prog_stats *s = &stats[k++];
      snprintf(s->name, sizeof(s->name), "%s", bpf_program__name(prog));
      struct bpf_prog_info info = {0};
      __u32 len = sizeof(info);
      if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) == 0) {
        s->verified_insns = info.verified_insns;
        s->xlated_insns = info.xlated_prog_len / 8;
      }
      const char *line = strstr(log, "processed ");
      if (line) {
        unsigned processed, limit;
        sscanf(line,
               "processed %u insns (limit %u) max_states_per_insn %d total_states %d "
               "peak_states %d mark_read %d",
               &processed, &limit, &s->max_states_per_insn, &s->total_states, &s->peak_states,
               &s->mark_read);
      }
      line = strstr(log, "verification time ");
      s->usec[load] = line ? strtol(line + strlen("verification time "), NULL, 10) : -1;
      if (full) {
        char out[128];
        snprintf(out, sizeof(out), "%s.log", s->name);
        FILE *f = fopen(out, "w");
        if (f) {
          fputs(log, f);
          fclose(f);
        }
      }
    }
    nprogs = k;
    bpf_object__close(obj);
  }

  printf(
      "| program | verified_insns | xlated insns | total_states | peak_states | mark_read | "
      "max_states_per_insn | verification ms (median, min-max of %d) |\n",
      loads);
  printf("|---|---|---|---|---|---|---|---|\n");
  for (int i = 0; i < nprogs; i++) {
    struct prog_stats *s = &stats[i];
    qsort(s->usec, loads, sizeof(long), compare_long);
    const long median =
        loads % 2 ? s->usec[loads / 2] : (s->usec[loads / 2 - 1] + s->usec[loads / 2]) / 2;
    printf("| %s | %u | %u | %d | %d | %d | %d | %.1f (%.1f-%.1f) |\n", s->name, s->verified_insns,
           s->xlated_insns, s->total_states, s->peak_states, s->mark_read, s->max_states_per_insn,
           median / 1000.0, s->usec[0] / 1000.0, s->usec[loads - 1] / 1000.0);
  }
  free(full_log);
  return 0;
}
