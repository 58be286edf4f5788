/* The workload loader: every kind of error names its line and column, flags and
 * --set override the file and are checked like it, placement policies, and the
 * resolved configuration loads back to itself. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/workload.h"

typedef struct {
    int rc;
    char err[4096];
} load_out;

static int load(const char *text, const sim_override *ov, size_t nov, sim_workload *w, load_out *o)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *err = open_memstream(&buf, &len);
    cr_assert_not_null(err);
    o->rc = sim_workload_load(text, strlen(text), "t.yaml", ov, nov, err, w);
    fclose(err);
    snprintf(o->err, sizeof o->err, "%s", buf ? buf : "");
    free(buf);
    return o->rc;
}

/* Loads text that must fail, and checks the first line of the message. */
static void expect_error(const char *text, const char *first_line)
{
    sim_workload w;
    load_out o;
    cr_assert_eq(load(text, NULL, 0, &w, &o), -EINVAL, "loaded: %s", text);
    char line[1024];
    snprintf(line, sizeof line, "%.*s", (int)strcspn(o.err, "\n"), o.err);
    cr_expect_str_eq(line, first_line, "for:\n%s\ngot: %s", text, line);
}

#define PHOLD_APP "apps:\n  - kind: phold\nduration: 1000\n"

Test(workload, unknown_key_names_line_column_and_suggests)
{
    expect_error("chip:\n  corse: 16\n" PHOLD_APP,
                 "t.yaml:2:3: unknown key 'corse' in chip (did you mean 'cores'?)");
    expect_error("chip: {cores: 16}\nzzz: 1\n" PHOLD_APP,
                 "t.yaml:2:1: unknown key 'zzz' in the workload (expected one of: plugins, chip, "
                 "engine, seed, duration, warmup, os, apps, faults, output)");
    /* Keys depend on the kind: a phold has no servers. */
    expect_error("apps:\n  - kind: phold\n    servers: 2\nduration: 1000\n",
                 "t.yaml:3:5: unknown key 'servers' in phold (expected one of: name, kind, "
                 "cores, placement, mean_delay, population)");
    expect_error("apps:\n  - kind: echo\n    servrs: 2\n",
                 "t.yaml:3:5: unknown key 'servrs' in echo (did you mean 'servers'?)");
    /* An empty key has no place of its own: its value's is given. */
    expect_error("chip: {cores: 16}\n: b\n" PHOLD_APP, "t.yaml:2:3: an empty key in the workload");
    /* With no value either, the mapping it is in is the place given. */
    expect_error("chip:\n  cores: 16\n  ? \n" PHOLD_APP,
                 "t.yaml:2:3: an empty key with an empty value in chip");
}

Test(workload, wrong_type_and_range)
{
    expect_error("chip:\n  cores: [1, 2]\n" PHOLD_APP,
                 "t.yaml:2:11: expected an integer from 2 to 65536, got a list");
    expect_error("chip:\n  cores: 1\n" PHOLD_APP,
                 "t.yaml:2:10: 1 is out of range: expected an integer from 2 to 65536");
    expect_error("chip:\n  cores: lots\n" PHOLD_APP,
                 "t.yaml:2:10: expected an integer from 2 to 65536, got 'lots'");
    expect_error("seed: -1\n" PHOLD_APP,
                 "t.yaml:1:7: expected an integer from 0 to 18446744073709551615, got '-1'");
    expect_error("duration: 3 fortnights\napps:\n  - kind: phold\n",
                 "t.yaml:1:11: expected a time: an integer number of cycles, or a number with a "
                 "unit (cycles, ns, us, ms, s), got '3 fortnights'");
    expect_error("chip:\n  topology: mseh\n" PHOLD_APP,
                 "t.yaml:2:13: unknown topology 'mseh' (did you mean 'mesh'?)");
    expect_error("engine: quantum\n" PHOLD_APP,
                 "t.yaml:1:9: unknown engine 'quantum' (expected one of: virtual, native)");
    expect_error("chip:\n  clock: 3 furlongs\n" PHOLD_APP,
                 "t.yaml:2:10: expected a clock rate from 1 MHz to 100 GHz (e.g. 2.6GHz), got '3 "
                 "furlongs'");
    expect_error("apps:\n  - kind: echo\n    mix: {echo: 0, ack: 0}\n",
                 "t.yaml:3:11: mix: every weight is 0");
    /* What the loader takes, the chip can be booted with. */
    expect_error("chip:\n  max_msg_bytes: 262144\n" PHOLD_APP,
                 "t.yaml:2:18: 262144 is out of range: expected an integer from 4096 to 261120");
    /* Values the chip cannot hold are refused, not rounded away. */
    expect_error("chip:\n  clock: 1000000.5\n" PHOLD_APP,
                 "t.yaml:2:10: a clock rate is a whole number of Hz, got '1000000.5' "
                 "(1000000.500 Hz)");
    expect_error("chip:\n  costs: {copy_per_byte: 0.001}\n" PHOLD_APP,
                 "t.yaml:2:26: copy_per_byte 0.001 would be 0 in the table's steps of 1/256 of a "
                 "cycle: give 0, or 0.001953125 (half a step) or more");
    /* A lookahead of 0 is refused where the costs are, not when booting. */
    expect_error("chip:\n  costs: {trap: 0, hop: 0}\n" PHOLD_APP,
                 "t.yaml:2:17: chip.costs: hop is 0 and so is trap, so a message between two "
                 "cores could take no time and the engine's lookahead would be 0; give one of "
                 "them at least 1 cycle");
    /* A time near 2^64 would saturate the clocks into "never". */
    expect_error("apps:\n  - kind: phold\nduration: 18446744073709551614\n",
                 "t.yaml:3:11: '18446744073709551614' is more than 2^62 cycles, past where "
                 "simulated time ends");
    /* A name heads a report row: no control characters, and a NUL is not
     * cut short into a shorter name. */
    expect_error("apps:\n  - {kind: phold, name: \"ph\\nold\"}\nduration: 1000\n",
                 "t.yaml:2:26: name: expected 1 to 31 printable characters, without '/' or "
                 "spaces");
    expect_error("apps:\n  - {kind: phold, name: \"ok\\0bad\"}\nduration: 1000\n",
                 "t.yaml:2:26: a NUL character in a key or a value");
    /* In a key too: "operations\0" would be read as operations. */
    expect_error("apps:\n  - {kind: phold, \"cores\\0\": 5}\nduration: 1000\n",
                 "t.yaml:2:20: a NUL character in a key or a value");
}

/* A NUL in the file itself, not inside a quoted scalar: the parser would stop
 * there, and "operations: 5<NUL>0" would run 5 operations. */
Test(workload, a_raw_nul_in_the_file_is_refused_where_it_is)
{
    static const char text[] = "chip:\n  cores: 16\napps:\n  - kind: pingpong\n    operations: 5\0"
                               "0\nduration: 1000\n";
    char *buf = NULL;
    size_t len = 0;
    FILE *err = open_memstream(&buf, &len);
    sim_workload w;
    cr_expect_eq(sim_workload_load(text, sizeof text - 1, "t.yaml", NULL, 0, err, &w), -EINVAL);
    fclose(err);
    cr_expect_str_eq(buf, "t.yaml:5:18: a NUL character: a workload is text (UTF-8)\n");
    free(buf);
}

Test(workload, a_second_document_or_a_directive_is_placed)
{
    expect_error(PHOLD_APP "---\n",
                 "t.yaml:4:1: a second YAML document: a workload is one document");
    expect_error(PHOLD_APP "...\n--- {}\n",
                 "t.yaml:5:1: a second YAML document: a workload is one document");
    expect_error("# a comment\n%YAML 2.0\n---\n" PHOLD_APP,
                 "t.yaml:2:1: a directive this reader does not take: a workload is YAML 1.1 or "
                 "1.2");
}

/* strtoull and strtod skip leading spaces and take signs and hexadecimal
 * floats: " -1" wrapped to 2^64 - 1, and 0x1.Ep3 read as 15. */
Test(workload, numbers_take_no_spaces_signs_or_hex_floats)
{
    expect_error("seed: \" -1\"\n" PHOLD_APP,
                 "t.yaml:1:8: expected an integer from 0 to 18446744073709551615, got ' -1'");
    expect_error("chip: {cores: \" +8\"}\n" PHOLD_APP,
                 "t.yaml:1:16: expected an integer from 2 to 65536, got ' +8'");
    expect_error("apps:\n  - {kind: phold, population: 0x1.Ep3}\nduration: 1000\n",
                 "t.yaml:2:31: expected an integer from 1 to 64, got '0x1.Ep3'");
    expect_error("duration: 0x1p3ns\napps:\n  - kind: phold\n",
                 "t.yaml:1:11: expected a time: an integer number of cycles, or a number with a "
                 "unit (cycles, ns, us, ms, s), got '0x1p3ns'");
    expect_error("chip: {clock: \" 1GHz\"}\n" PHOLD_APP,
                 "t.yaml:1:16: expected a clock rate from 1 MHz to 100 GHz (e.g. 2.6GHz), got ' "
                 "1GHz'");
    expect_error("faults:\n  - {drop: {probability: 0.0000004}}\n" PHOLD_APP,
                 "t.yaml:2:26: probability 4e-07 is below one in a million, which rules resolve "
                 "to; it would never fire");
    /* What is meant stays: hexadecimal integers, a point first, exponents. */
    sim_workload w;
    load_out o;
    cr_assert_eq(load("seed: 0x10\nduration: .5us\napps:\n  - {kind: phold, population: 1e1}\n",
                      NULL, 0, &w, &o),
                 0, "%s", o.err);
    cr_expect_eq(w.cfg.seed, 16);
    cr_expect_eq(w.cfg.duration, 500);
    cr_expect_eq(w.apps[0].population, 10);
    sim_workload_free(&w);
}

/* An empty value or collection has no position of its own: it is said at
 * its key (or its list's), not at the first key of the mapping around it. */
Test(workload, empty_values_are_placed_at_their_key)
{
    expect_error("duration: 1000\napps:\n  - kind: phold\n    population:\n",
                 "t.yaml:4:5: expected an integer from 1 to 64, got nothing");
    expect_error("duration: 1000\napps:\n  - kind: phold\n    placement: {}\n",
                 "t.yaml:4:5: placement mapping needs 'near: NAME'");
    expect_error("duration: 1000\napps:\n  - kind: phold\n  - {}\n",
                 "t.yaml:2:1: apps[1]: missing 'kind' (one of echo, null_syscall, pingpong, "
                 "phold, or a plugin's: fossim --list)");
}

/* A root that is no mapping is the file's mistake, also when flags are given:
 * the flag was blamed for finding no key in it. */
Test(workload, a_root_that_is_no_mapping_is_the_files_mistake)
{
    sim_override ov[] = {{"--duration", "duration", "20us"}};
    sim_workload w;
    load_out o;
    cr_assert_eq(load("- kind: phold\n", ov, 1, &w, &o), -EINVAL);
    cr_expect_str_eq(o.err,
                     "t.yaml:1:3: a workload is a mapping (chip, engine, seed, duration, os, "
                     "apps, ...)\n");
}

/* A tag was ignored (!!float 16 read as 16), and a plain ~ or null, YAML's
 * "nothing", was read as a string (an application named "~"). */
Test(workload, tags_are_refused_and_null_is_nothing)
{
    expect_error("chip: {cores: !!float 16}\n" PHOLD_APP,
                 "t.yaml:1:23: a tag (tag:yaml.org,2002:float) is not read: each value's type is "
                 "the schema's; write the value alone");
    expect_error("duration: 1000\napps:\n  - {kind: phold, name: ~}\n",
                 "t.yaml:3:25: expected a name, got nothing");
    expect_error("duration: 1000\napps:\n  - {kind: phold, name: null}\n",
                 "t.yaml:3:25: expected a name, got nothing");
    /* Where a mapping may stand, ~ is "every default", as an empty value is. */
    sim_workload w0;
    load_out o0;
    cr_assert_eq(load("chip: {cores: 16}\nos: {pma: ~}\n" PHOLD_APP, NULL, 0, &w0, &o0), 0, "%s",
                 o0.err);
    sim_workload_free(&w0);
    sim_workload w;
    load_out o;
    cr_assert_eq(
        load("duration: 1000\napps:\n  - {kind: phold, name: \"null\"}\n", NULL, 0, &w, &o), 0,
        "%s", o.err);
    cr_expect_str_eq(w.apps[0].name, "null", "quoted, it is a string");
    sim_workload_free(&w);
}

/* A send that times out at once, and numa keys on a chip that is not numa
 * (a flag may have made it a mesh): refused, and said. */
Test(workload, send_timeout_zero_and_numa_keys_elsewhere)
{
    expect_error("chip: {costs: {send_timeout: 0}}\n" PHOLD_APP,
                 "t.yaml:1:30: 0 is out of range: expected an integer from 1 to 4398046510080");
    sim_workload w;
    load_out o;
    cr_assert_eq(load("chip: {cores: 16, socket_hops: 3}\n" PHOLD_APP, NULL, 0, &w, &o), 0, "%s",
                 o.err);
    cr_expect_str_eq(o.err,
                     "t.yaml:1:32: note: socket_hops applies to numa chips only; this one is "
                     "mesh, so it is not used\n");
    sim_workload_free(&w);
}

/* The host's costs are TSC cycles, so its chip runs at the TSC's rate unless
 * the workload gives a clock (at 1 GHz every ns figure was off). */
/* A cost between the table's 1/256 steps is kept at the nearest, and said. */
Test(workload, copy_costs_round_to_the_tables_step_and_say_so)
{
    sim_workload w;
    load_out o;
    cr_assert_eq(load("chip: {costs: {copy_per_byte: 0.1}}\n" PHOLD_APP, NULL, 0, &w, &o), 0, "%s",
                 o.err);
    cr_expect_eq(w.cfg.chip.costs.copy_per_byte_q8, 26);
    cr_expect_not_null(strstr(o.err, "t.yaml:1:31: note: copy_per_byte 0.1 is kept as 26/256 = "
                                     "0.1015625 cycles"),
                       "%s", o.err);
    sim_workload_free(&w);
    cr_assert_eq(load("chip: {costs: {copy_per_byte: 0.25}}\n" PHOLD_APP, NULL, 0, &w, &o), 0);
    cr_expect_eq(w.cfg.chip.costs.copy_per_byte_q8, 64);
    cr_expect_eq(o.err[0], '\0', "exact: nothing to say, got %s", o.err);
    sim_workload_free(&w);
}

/* A send timeout under a round trip across the chip loads (a lost send may be
 * meant to time out soon) and is said, where it was given. */
Test(workload, a_send_timeout_under_a_round_trip_is_said)
{
    sim_workload w;
    load_out o;
    /* A 4x4 mesh at tile costs: trap 14, 6 hops of 1 corner to corner, a
     * 40-byte header at 1/4 cycle a byte: 30 cycles one way. */
    cr_assert_eq(load("chip: {cores: 16, costs: {send_timeout: 59}}\n" PHOLD_APP, NULL, 0, &w, &o),
                 0, "%s", o.err);
    cr_expect_not_null(strstr(o.err, "t.yaml:1:41: note: send_timeout (59 cycles) is shorter "
                                     "than a round trip from core 0 to core 15 (60 cycles"),
                       "%s", o.err);
    sim_workload_free(&w);
    cr_assert_eq(load("chip: {cores: 16, costs: {send_timeout: 60}}\n" PHOLD_APP, NULL, 0, &w, &o),
                 0);
    cr_expect_null(strstr(o.err, "send_timeout"), "%s", o.err);
    sim_workload_free(&w);
}

Test(workload, host_costs_come_with_the_tscs_clock)
{
    sim_workload w;
    load_out o;
    cr_assert_eq(load("chip: {cores: 16, costs: host}\n" PHOLD_APP, NULL, 0, &w, &o), 0, "%s",
                 o.err);
    cr_expect_eq(w.cfg.chip.clock_hz, sim_native_cycles_per_s());
    sim_workload_free(&w);
    cr_assert_eq(load("chip: {cores: 16, costs: host, clock: 2GHz}\n" PHOLD_APP, NULL, 0, &w, &o),
                 0, "%s", o.err);
    cr_expect_eq(w.cfg.chip.clock_hz, 2000000000ull, "a clock given is kept");
    sim_workload_free(&w);
}

Test(workload, syntax_error_has_position)
{
    expect_error("chip:\n  cores: 4\n  bad: [1, 2\nx: 1\n",
                 "t.yaml:4:2: wrongly indented mapping value in flow mode");
}

Test(workload, missing_and_inconsistent)
{
    expect_error("chip: {cores: 16}\n",
                 "t.yaml:1:1: the workload has no 'apps': nothing would run");
    expect_error("apps:\n  - kind: phold\n",
                 "t.yaml:2:5: phold never ends by itself (operations: 0, as phold): give the "
                 "workload a duration");
    /* At the application that never ends, not the first one listed. */
    expect_error("apps:\n  - {kind: pingpong, operations: 10}\n  - kind: echo\n"
                 "    name: endless\n    operations: 0\n",
                 "t.yaml:3:5: endless never ends by itself (operations: 0): give the workload a "
                 "duration");
    expect_error("apps:\n  - clients: 2\n",
                 "t.yaml:2:5: apps[0]: missing 'kind' (one of echo, null_syscall, pingpong, "
                 "phold, or a plugin's: fossim --list)");
    expect_error("apps:\n  - kind: echo\n    loop: open\n",
                 "t.yaml:3:11: an open loop needs 'rate' (requests per simulated second, per "
                 "client)");
    expect_error("duration: 100\nwarmup: 200\n"
                 "apps:\n  - kind: phold\n",
                 "t.yaml:2:9: warmup (200 cycles) must be shorter than the duration (100 cycles)");
    expect_error("apps:\n  - kind: echo\n  - kind: echo\n",
                 "t.yaml:3:5: two applications are named 'echo': give each a 'name'");
    expect_error("os:\n  net: {members: 2}\n" PHOLD_APP,
                 "t.yaml:2:3: fleet 'net' is not part of this version of fossim yet (no plugin "
                 "registered it)");
    /* A parameter with choices, and one that is a size. */
    expect_error("os:\n  pma: {members: 2, scheme: pushy}\n" PHOLD_APP,
                 "t.yaml:2:29: unknown scheme 'pushy' (did you mean 'push'?)");
    expect_error("os:\n  pma: {members: 2, memory: 4GB}\n" PHOLD_APP,
                 "t.yaml:2:29: expected a size: an integer number of bytes, or a number with a "
                 "unit (B, KiB, MiB, GiB, TiB), got '4GB'");
    expect_error("os:\n  pma: {members: 2, memory: 1KiB}\n" PHOLD_APP,
                 "t.yaml:2:29: 1KiB is out of range: expected 4096 to 68719476736 bytes");
    expect_error("os:\n  pma: {members: 2, memory: 1TiB}\n" PHOLD_APP,
                 "t.yaml:2:29: 1TiB is out of range: expected 4096 to 68719476736 bytes");
    /* Memory comes in whole pages: 8191 bytes is not one page, silently. */
    expect_error("os:\n  pma: {members: 2, memory: 8191}\n" PHOLD_APP,
                 "t.yaml:2:29: memory must be a multiple of 4096 bytes, got 8191");
    /* A kind's fleet, and one that only some of its parameters need: spawn_storm's
     * pages come from pma, but with pages: 0 it runs on pms alone. */
    expect_error("apps:\n  - {kind: spawn_storm, operations: 10}\n",
                 "t.yaml:2:6: spawn_storm needs the fleet 'pms': add it under os:");
    {
        /* Both at once. */
        sim_workload w;
        load_out o;
        cr_assert_eq(load("apps:\n  - {kind: spawn_storm, operations: 10}\n", NULL, 0, &w, &o),
                     -EINVAL);
        cr_expect_not_null(strstr(o.err, "need the fleet 'pma'"), "%s", o.err);
    }
    expect_error("os: {pms: {members: 1}}\napps:\n  - {kind: spawn_storm, operations: 10}\n",
                 "t.yaml:3:6: spawn_storm's pages (4, the default) need the fleet 'pma': add it "
                 "under os:, or set pages: 0");
    expect_error("os: {pms: {members: 1}}\napps:\n  - {kind: spawn_storm, pages: 2}\n",
                 "t.yaml:3:32: spawn_storm's pages (2) need the fleet 'pma': add it under os:, "
                 "or set pages: 0");
    sim_workload w;
    load_out o;
    cr_expect_eq(load("os: {pms: {members: 1}}\napps:\n  - {kind: spawn_storm, pages: 0, "
                      "operations: 10}\n",
                      NULL, 0, &w, &o),
                 0, "%s", o.err);
    if (o.rc == 0) sim_workload_free(&w);
    expect_error("faults:\n  - kill: 3\n" PHOLD_APP,
                 "t.yaml:2:11: kill needs exactly one of 'at: TIME' or 'when: {src, dst, type}'");
    expect_error("faults:\n  - kill: 999\n    at: 10\n" PHOLD_APP,
                 "t.yaml:2:11: 999 is out of range: expected an integer from 0 to 255");
}

Test(workload, impossible_layout)
{
    expect_error("chip: {cores: 8}\napps:\n  - kind: echo\n    servers: 4\n    clients: 10\n",
                 "t.yaml:3:5: echo's clients: 10 cores needed but only 3 are free (every server, "
                 "client and fleet member needs a core of its own)");
    expect_error("chip: {cores: 8}\napps:\n  - kind: echo\n    server_placement: [3]\n"
                 "    placement: [3]\n",
                 "t.yaml:5:17: echo's clients: core 3 is already taken (listed twice, or by a "
                 "group placed before)");
    expect_error("chip: {cores: 8}\napps:\n  - kind: echo\n    placement: [1, 9]\n",
                 "t.yaml:4:17: echo's clients has 1 members but the placement lists 2 cores");
    expect_error("chip: {cores: 8}\napps:\n  - kind: echo\n    placement: {near: later}\n"
                 "  - {kind: pingpong, name: later}\n",
                 "t.yaml:4:17: near: 'later' is placed after this group; list it earlier");
}

Test(workload, overrides_win_and_are_checked_like_the_file)
{
    sim_workload w;
    load_out o;
    const char *text = "chip: {cores: 16, costs: {preset: tile, trap: 30}}\nseed: 7\n" PHOLD_APP;
    sim_override ov[] = {{"--cores", "chip.cores", "32"},
                         {"--set", "chip.costs.trap", "2000"},
                         {"--set", "apps.0.mean_delay", "1us"},
                         {"--set", "output.quiet", "true"}};
    cr_assert_eq(load(text, ov, 4, &w, &o), 0, "%s", o.err);
    cr_expect_eq(w.cfg.chip.cores, 32);
    cr_expect_eq(w.cfg.chip.costs.trap, 2000);
    cr_expect_eq(w.cfg.seed, 7, "a flag not given leaves the file's value");
    cr_expect_eq(w.apps[0].mean_delay, 1000, "1us at the default 1 GHz");
    cr_expect_eq(w.apps[0].instances, 31, "phold takes every core the name fleet leaves");
    cr_expect(w.quiet);
    sim_workload_free(&w);

    sim_override bad[] = {{"--cores", "chip.cores", "1"}};
    cr_assert_eq(load(text, bad, 1, &w, &o), -EINVAL);
    cr_expect_str_eq(o.err, "fossim: --cores 1: 1 is out of range: expected an integer from 2 to "
                            "65536\n");
    sim_override typo[] = {{"--set", "chip.cost.trap", "1"}};
    cr_assert_eq(load(text, typo, 1, &w, &o), -EINVAL);
    cr_expect_str_eq(o.err, "fossim: --set chip.cost.trap=1: unknown key 'cost' in chip (did you "
                            "mean 'costs'?)\n");
    sim_override idx[] = {{"--set", "apps.3.cores", "1"}};
    cr_assert_eq(load(text, idx, 1, &w, &o), -EINVAL);
    cr_expect_str_eq(o.err, "fossim: --set apps.3.cores=1: '3' is not an index of a list of 1\n");
    /* A value is checked as the file is, and names no anchor it cannot have. */
    sim_override dup[] = {{"--set", "chip", "{cores: 64, cores: 32}"}};
    cr_assert_eq(load(text, dup, 1, &w, &o), -EINVAL);
    cr_expect_str_eq(o.err, "fossim: --set chip={cores: 64, cores: 32}: duplicate key 'cores'\n");
    sim_override two[] = {{"--set", "seed", "5\n---\n6"}};
    cr_assert_eq(load(text, two, 1, &w, &o), -EINVAL, "the second document was dropped");
    cr_expect_str_eq(o.err,
                     "fossim: --set seed=5\n---\n6: a second YAML document: a value is one\n");
    sim_override junk[] = {{"--set", "seed", "5\n---\n["}};
    cr_assert_eq(load(text, junk, 1, &w, &o), -EINVAL, "what followed was dropped");
    sim_override alias[] = {{"--set", "apps.0.kind", "*x"}};
    cr_assert_eq(load(text, alias, 1, &w, &o), -EINVAL);
    cr_expect_str_eq(o.err, "fossim: --set apps.0.kind=*x: an alias or a merge key, whose anchors "
                            "only a workload file can have\n");
    sim_override signed_idx[] = {{"--set", "apps.+0.cores", "1"}};
    cr_assert_eq(load(text, signed_idx, 1, &w, &o), -EINVAL);
    cr_expect_str_eq(o.err, "fossim: --set apps.+0.cores=1: '+0' is not an index of a list of 1\n");
    sim_override broken[] = {{"--set", "chip", "["}};
    cr_assert_eq(load(text, broken, 1, &w, &o), -EINVAL);
    cr_expect_str_eq(o.err, "fossim: --set chip=[: the value is not valid YAML\n");
}

Test(workload, durations_follow_the_clock)
{
    fos_cycles c;
    cr_expect_eq(sim_parse_duration("2ms", 2000000000ull, &c), 0);
    cr_expect_eq(c, 4000000);
    cr_expect_eq(sim_parse_duration("1.5 us", 1000000000ull, &c), 0);
    cr_expect_eq(c, 1500);
    cr_expect_eq(sim_parse_duration("123", 1, &c), 0);
    cr_expect_eq(c, 123, "a bare integer is cycles");
    cr_expect_eq(sim_parse_duration("18446744073709551615", 1, &c), 0, "exact above 2^53");
    cr_expect_eq(c, UINT64_MAX);
    cr_expect_eq(sim_parse_duration("10 cycles", 1, &c), 0);
    cr_expect_eq(c, 10);
    /* As reports and --replay write times: exact too. */
    cr_expect_eq(sim_parse_duration("9007199254740993 cycles", 1, &c), 0);
    cr_expect_eq(c, 9007199254740993ull, "rounded to %llu", (unsigned long long)c);
    cr_expect_eq(sim_parse_duration("1e-400s", 1000000000ull, &c), -ERANGE,
                 "too small for a double is less than a cycle, not none");
    cr_expect_eq(sim_parse_duration("1.5 cycles", 1, &c), -EINVAL, "no fractions of a cycle");
    cr_expect_eq(sim_parse_duration("-1ms", 1000, &c), -EINVAL);
    cr_expect_eq(sim_parse_duration("1 hour", 1000, &c), -EINVAL);
    cr_expect_eq(sim_parse_duration("", 1000, &c), -EINVAL);
}

Test(workload, sizes)
{
    uint64_t b;
    cr_expect_eq(sim_parse_size("4GiB", &b), 0);
    cr_expect_eq(b, 4ull << 30);
    cr_expect_eq(sim_parse_size("1.5 KiB", &b), 0);
    cr_expect_eq(b, 1536);
    cr_expect_eq(sim_parse_size("4096", &b), 0);
    cr_expect_eq(b, 4096, "a bare integer is bytes");
    cr_expect_eq(sim_parse_size("0.3B", &b), -EINVAL, "no fractions of a byte");
    cr_expect_eq(sim_parse_size("4GB", &b), -EINVAL, "units are binary");
    cr_expect_eq(sim_parse_size("-1KiB", &b), -EINVAL);
    cr_expect_eq(sim_parse_size("99999999TiB", &b), -EINVAL);
}

static void layout(const char *apps, sim_workload *w)
{
    char text[1024];
    snprintf(text, sizeof text, "chip: {cores: 16, topology: mesh}\n%s", apps);
    load_out o;
    cr_assert_eq(load(text, NULL, 0, w, &o), 0, "%s", o.err);
}

Test(workload, placement_policies)
{
    sim_workload w;
    /* The name fleet takes core 0 (compact); spread then covers the 4x4 mesh's
     * area: a grid of 2 columns, rows of 1 and 2, each member on the free
     * core nearest its part's centre (the lower cell where it falls between
     * two), (1,0), (0,2) and (2,2). */
    layout("apps:\n  - {kind: echo, servers: 3, clients: 2, server_placement: spread, "
           "placement: compact}\n",
           &w);
    cr_expect_eq(w.cfg.dir_core, 0);
    cr_expect_eq(w.apps[0].server_cores[0], 1);
    cr_expect_eq(w.apps[0].server_cores[1], 8);
    cr_expect_eq(w.apps[0].server_cores[2], 10);
    cr_expect_eq(w.apps[0].client_cores[0], 2);
    cr_expect_eq(w.apps[0].client_cores[1], 3);
    sim_workload_free(&w);

    /* near: each client on the free core nearest its server (4x4 mesh). */
    layout("os: {name: {placement: [15]}}\napps:\n  - {kind: echo, servers: 1, clients: 2, "
           "server_placement: [5], placement: {near: echo}}\n",
           &w);
    cr_expect_eq(w.cfg.dir_core, 15);
    cr_expect_eq(w.apps[0].client_cores[0], 1, "a neighbour of 5, lowest id first");
    cr_expect_eq(w.apps[0].client_cores[1], 4);
    sim_workload_free(&w);

    /* On a torus, near goes round the edges: core 0's neighbours are 1, 3, 4
     * and 12, and after them the cores two hops away, lowest first. */
    load_out o;
    cr_assert_eq(load("chip: {cores: 16, topology: torus}\nos: {name: {placement: [15]}}\napps:\n"
                      "  - {kind: echo, servers: 1, clients: 6, server_placement: [0], "
                      "placement: {near: echo}}\n",
                      NULL, 0, &w, &o),
                 0, "%s", o.err);
    static const uint32_t torus[] = {1, 3, 4, 12, 2, 5};
    for (uint32_t i = 0; i < 6; i++)
        cr_expect_eq(w.apps[0].client_cores[i], torus[i], "client %u on core %u", i,
                     w.apps[0].client_cores[i]);
    sim_workload_free(&w);

    /* On numa, near fills the member's socket first, lowest first, then the
     * lowest cores of the other sockets. */
    cr_assert_eq(
        load("chip: {cores: 8, topology: numa, cores_per_socket: 4, socket_hops: 3}\n"
             "os: {name: {placement: [7]}}\napps:\n  - {kind: echo, servers: 1, clients: 4, "
             "server_placement: [1], placement: {near: echo}}\n",
             NULL, 0, &w, &o),
        0, "%s", o.err);
    static const uint32_t numa[] = {0, 2, 3, 4};
    for (uint32_t i = 0; i < 4; i++)
        cr_expect_eq(w.apps[0].client_cores[i], numa[i], "client %u on core %u", i,
                     w.apps[0].client_cores[i]);
    sim_workload_free(&w);

    /* Every core used exactly once, "all" taking what is left. */
    layout("apps:\n  - {kind: echo, servers: 5, clients: all}\n", &w);
    cr_expect_eq(w.apps[0].instances, 10);
    int seen[16] = {0};
    seen[w.cfg.dir_core]++;
    for (uint32_t i = 0; i < 5; i++)
        seen[w.apps[0].server_cores[i]]++;
    for (uint32_t i = 0; i < 10; i++)
        seen[w.apps[0].client_cores[i]]++;
    for (int c = 0; c < 16; c++)
        cr_expect_eq(seen[c], 1, "core %d used %d times", c, seen[c]);
    sim_workload_free(&w);
}

/* spread on a mesh covers its area: with 16 servers on a 16x16 mesh each
 * server is the nearest of an equal share of the clients (spread by id put
 * them in one column, where one was nobody's nearest), and each client's
 * nearest is close. */
Test(workload, spread_covers_a_meshs_area)
{
    sim_workload w;
    load_out o;
    cr_assert_eq(load("chip: {cores: 256, topology: mesh}\napps:\n  - {kind: echo, servers: 16, "
                      "clients: all, server_placement: spread}\n",
                      NULL, 0, &w, &o),
                 0, "%s", o.err);
    fos_topo t;
    cr_assert_eq(fos_topo_init(&t, &w.cfg.chip), 0);
    const sim_app_spec *a = &w.apps[0];
    uint32_t nearest_of[16] = {0}, worst = 0;
    for (uint32_t i = 0; i < a->instances; i++) {
        uint32_t c = fos_topo_nearest(&t, a->client_cores[i], a->server_cores, 16);
        uint32_t h = fos_topo_hops(&t, a->client_cores[i], c);
        if (h > worst) worst = h;
        for (uint32_t k = 0; k < 16; k++)
            if (a->server_cores[k] == c) nearest_of[k]++;
    }
    /* 239 clients: 14 or 15 each, the shares as even as the grid allows. */
    for (uint32_t k = 0; k < 16; k++)
        cr_expect(nearest_of[k] >= 14 && nearest_of[k] <= 16,
                  "server %u (core %u) is the nearest of %u clients", k, a->server_cores[k],
                  nearest_of[k]);
    cr_expect_leq(worst, 4, "a client is %u hops from its nearest server", worst);
    fos_topo_fini(&t);
    sim_workload_free(&w);

    /* A ring has no area: spread strides the free cores' numbers. */
    cr_assert_eq(load("chip: {cores: 16, topology: ring}\napps:\n  - {kind: echo, servers: 3, "
                      "clients: 2, server_placement: spread, placement: compact}\n",
                      NULL, 0, &w, &o),
                 0, "%s", o.err);
    cr_expect_eq(w.apps[0].server_cores[0], 1);
    cr_expect_eq(w.apps[0].server_cores[1], 6);
    cr_expect_eq(w.apps[0].server_cores[2], 11);
    sim_workload_free(&w);
}

/* The resolved configuration, loaded again, resolves to itself. */
static char *resolved(const sim_workload *w)
{
    cJSON *j = sim_workload_to_json(w);
    cr_assert_not_null(j);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

Test(workload, resolved_config_round_trips)
{
    sim_workload w, w2;
    load_out o;
    cr_assert_eq(sim_workload_load(sim_default_workload, strlen(sim_default_workload), "default",
                                   NULL, 0, stderr, &w),
                 0);
    char *a = resolved(&w);
    cr_assert_eq(load(a, NULL, 0, &w2, &o), 0, "%s\n%s", o.err, a);
    char *b = resolved(&w2);
    cr_expect_str_eq(a, b);
    cr_expect_eq(w.cfg.seed, 1, "the default seed is 1");
    cr_expect_neq(w.cfg.duration, 0, "the default workload's duration is fixed in it");
    free(a);
    free(b);
    sim_workload_free(&w);
    sim_workload_free(&w2);

    /* Faults, numa and open loops survive the trip too. */
    const char *text = "chip: {cores: 32, topology: numa, cores_per_socket: 4, socket_hops: 3, "
                       "clock: 2.5GHz, costs: {preset: fos2009, copy_per_byte: 0.5}}\n"
                       "duration: 1ms\nseed: 12345678901234567890\n"
                       "apps:\n  - {kind: echo, loop: open, rate: 100000, clients: 4, "
                       "mechanism: channel, server_choice: nearest, mix: {echo: 1, ack: 2}}\n"
                       "  - {kind: pingpong, name: pp, pairs: 2, operations: 10}\n"
                       "faults:\n  - {kill: 3, at: 10us}\n  - {kill: 4, when: {src: 4, type: 2}}\n"
                       "  - {drop: {dst: 5, probability: 0.25}}\n"
                       "  - {delay: {src: 6, by: 1us}}\n";
    cr_assert_eq(load(text, NULL, 0, &w, &o), 0, "%s", o.err);
    cr_expect_eq(w.cfg.chip.costs.copy_per_byte_q8, 128);
    cr_expect_eq(w.cfg.chip.costs.trap, 9900);
    cr_expect_eq(w.cfg.duration, 2500000);
    cr_expect_eq(w.cfg.seed, 12345678901234567890ull);
    cr_expect_eq(w.faults[2].per_million, 250000);
    a = resolved(&w);
    cr_assert_eq(load(a, NULL, 0, &w2, &o), 0, "%s\n%s", o.err, a);
    b = resolved(&w2);
    cr_expect_str_eq(a, b);
    free(a);
    free(b);
    sim_workload_free(&w);
    sim_workload_free(&w2);
}

Test(workload, set_inside_a_cost_preset_keeps_the_preset)
{
    sim_workload w;
    load_out o;
    const char *text = "chip: {cores: 8, costs: fos2009}\n" PHOLD_APP;
    sim_override ov[] = {{"--set", "chip.costs.trap", "5"}};
    cr_assert_eq(load(text, ov, 1, &w, &o), 0, "%s", o.err);
    cr_expect_eq(w.cfg.chip.costs.trap, 5);
    cr_expect_eq(w.cfg.chip.costs.hop, 10, "the rest is still fos2009's");
    cr_expect_str_eq(w.costs_preset, "fos2009");
    sim_workload_free(&w);
    sim_override bad[] = {{"--set", "chip.cores.x", "5"}};
    cr_assert_eq(load(text, bad, 1, &w, &o), -EINVAL);
    cr_expect_str_eq(o.err, "fossim: --set chip.cores.x=5: 'cores' holds a value (t.yaml:1:15), "
                            "not a mapping: set cores itself\n");
    /* A later override replacing an earlier one is blamed on itself. */
    sim_override twice[] = {{"--set", "chip.costs", "{trap: 1}"},
                            {"--set", "chip.costs", "{trapp: 1}"}};
    cr_assert_eq(load(text, twice, 2, &w, &o), -EINVAL);
    cr_expect_str_eq(o.err, "fossim: --set chip.costs={trapp: 1}: unknown key 'trapp' in "
                            "chip.costs (did you mean 'trap'?)\n");
}

Test(workload, one_document_with_aliases_resolved)
{
    expect_error(PHOLD_APP "---\nx: 1\n",
                 "t.yaml:5:1: a second YAML document: a workload is one document");
    expect_error(PHOLD_APP "---\ngarbage: [\n",
                 "t.yaml:6:1: flow sequence without a closing bracket");
    sim_workload w;
    load_out o;
    cr_assert_eq(load("seed: &s 5\nduration: *s\napps:\n  - &b {kind: phold, cores: 3}\n"
                      "  - <<: *b\n    name: p2\n",
                      NULL, 0, &w, &o),
                 0, "%s", o.err);
    cr_expect_eq(w.cfg.duration, 5);
    cr_expect_eq(w.napps, 2);
    cr_expect_eq(w.apps[1].instances, 3, "merged from the anchor");
    sim_workload_free(&w);

    /* A mapping's own keys override merged ones (the merge key's usual use,
     * once refused as a duplicate), and the first of several merged wins. */
    cr_assert_eq(load("duration: 1000\napps:\n  - &b {kind: phold, name: p1, cores: 3}\n"
                      "  - &c {kind: phold, name: p3, cores: 5, mean_delay: 7}\n"
                      "  - <<: [*b, *c]\n    name: p2\n    cores: 4\n",
                      NULL, 0, &w, &o),
                 0, "%s", o.err);
    cr_expect_eq(w.napps, 3);
    cr_expect_str_eq(w.apps[2].name, "p2");
    cr_expect_eq(w.apps[2].instances, 4, "its own key");
    cr_expect_eq(w.apps[2].mean_delay, 7, "from the second, which the first lacks");
    sim_workload_free(&w);
}

Test(workload, aliases_that_expand_without_bound_are_refused)
{
    /* Nine levels of ten: 10^9 nodes once resolved. Refused before any is built. */
    char text[2048];
    size_t n = (size_t)snprintf(text, sizeof text, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i <= 8; i++) {
        n += (size_t)snprintf(text + n, sizeof text - n, "a%d: &a%d [", i, i);
        for (int j = 0; j < 10; j++)
            n += (size_t)snprintf(text + n, sizeof text - n, "%s*a%d", j ? ", " : "", i - 1);
        n += (size_t)snprintf(text + n, sizeof text - n, "]\n");
    }
    snprintf(text + n, sizeof text - n, "chip: {cores: *a8}\n");
    expect_error(text, "t.yaml: with its aliases expanded the workload has more than 2097152 "
                       "nodes or nests deeper than 256 levels");
    /* A node that contains itself, by alias or merge key: the resolver says where. */
    expect_error("apps: &a [*a]\n", "t.yaml:1:12: cyclic reference detected");
    expect_error("apps:\n  - &x {kind: echo, <<: *x}\n", "t.yaml:2:26: cyclic reference detected");
    /* The same alias used many times over is fine while the total stays bounded. */
    sim_workload w;
    load_out o;
    cr_assert_eq(load("c: &c [0, 1, 2, 3]\nd: &d [*c, *c, *c]\n" PHOLD_APP, NULL, 0, &w, &o),
                 -EINVAL);
    cr_expect_not_null(strstr(o.err, "unknown key 'c'"), "%s", o.err);
}

Test(workload, duplicate_keys_and_alias_lookups_are_bounded)
{
    expect_error("seed: 1\nseed: 2\n" PHOLD_APP, "t.yaml:2:1: duplicate key 'seed'");
    expect_error("chip: {cores: 16, cores: 8}\n" PHOLD_APP, "t.yaml:1:19: duplicate key 'cores'");
    /* A merge key with no alias goes to the resolution too (which takes only
     * aliases there). */
    expect_error("apps:\n  - <<: {kind: phold, cores: 3}\n    name: p\nduration: 1000\n",
                 "t.yaml:2:9: invalid merge key value");
    /* 300 anchors, 300 aliases in b, 300 of b in c: few nodes, but every alias
     * the resolution meets (300 + 300 * 301 = 90,600) scans all 301 anchors. */
    size_t cap = 64 * 1024, n = 0;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(text + n, cap - n, "p%d: &p%d x\n", i, i);
    n += (size_t)snprintf(text + n, cap - n, "b: &b [*p0");
    for (int i = 1; i < 300; i++)
        n += (size_t)snprintf(text + n, cap - n, ", *p%d", i);
    n += (size_t)snprintf(text + n, cap - n, "]\nc: [*b");
    for (int i = 1; i < 300; i++)
        n += (size_t)snprintf(text + n, cap - n, ", *b");
    snprintf(text + n, cap - n, "]\n");
    expect_error(text, "t.yaml: 90600 aliases once expanded, of 301 anchors: more than the "
                       "16777216 alias-by-anchor lookups resolving them may take");
    free(text);
}

Test(workload, input_files_are_bounded)
{
    sim_workload w;
    char *buf = NULL;
    size_t len = 0;
    FILE *err = open_memstream(&buf, &len);
    cr_assert_not_null(err);
    /* An endless stream stops at the bound instead of eating the host's memory. */
    cr_expect_eq(sim_workload_load_file("/dev/zero", NULL, 0, err, &w), -EINVAL);
    cr_expect_eq(sim_workload_load_file("/", NULL, 0, err, &w), -EINVAL);
    cr_expect_eq(sim_workload_load_file("/nonexistent/w.yaml", NULL, 0, err, &w), -EINVAL);
    fclose(err);
    cr_expect_not_null(strstr(buf, "fossim: /dev/zero: more than 16 MiB"), "%s", buf);
    cr_expect_not_null(strstr(buf, "fossim: /: Is a directory"), "%s", buf);
    cr_expect_not_null(strstr(buf, "fossim: /nonexistent/w.yaml: No such file"), "%s", buf);
    free(buf);
}

Test(workload, a_name_used_twice_in_a_long_list_is_found)
{
    /* 20,000 applications, the last one named like the first: a comparison per
     * pair would take seconds; the error still names the later one. */
    enum { N = 20000 };
    size_t cap = (size_t)N * 64 + 256, n = 0;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    n += (size_t)snprintf(text + n, cap - n, "chip: {cores: 65536}\nduration: 1000\napps:\n");
    for (int i = 0; i < N; i++)
        n += (size_t)snprintf(text + n, cap - n, "  - {kind: phold, name: p%d, cores: 2}\n",
                              i == N - 1 ? 0 : i);
    sim_workload w;
    load_out o;
    cr_assert_eq(load(text, NULL, 0, &w, &o), -EINVAL);
    char want[128];
    snprintf(want, sizeof want, "t.yaml:%d:25: two applications are named 'p0'", N + 3);
    cr_expect_not_null(strstr(o.err, want), "%s", o.err);
    free(text);
}

Test(workload, sizes_and_times_that_cannot_be)
{
    /* The OS's own calls (names, fleets, the KV store) send up to 4 KiB: a
     * smaller chip-wide limit failed them, some silently. */
    expect_error("chip: {max_msg_bytes: 100}\napps: [{kind: echo}]\n",
                 "t.yaml:1:23: 100 is out of range: expected an integer from 4096 to 261120");
    expect_error("apps: [{kind: echo, request_bytes: 4090}]\n",
                 "t.yaml:1:36: a request of 4090 bytes and its 40-byte header exceed the chip's "
                 "max_msg_bytes (4096)");
    expect_error("duration: 0.1ns\n"
                 "apps:\n  - kind: phold\n",
                 "t.yaml:1:11: '0.1ns' is less than one cycle at 1000000000 Hz");
    expect_error("chip: {cores: 8}\napps:\n  - {kind: pingpong, placement: {near: pingpong}}\n",
                 "t.yaml:3:34: near: 'pingpong' names this application itself, which has no "
                 "servers to be near");
}

Test(workload, integers_are_decimal)
{
    sim_workload w;
    load_out o;
    /* A leading zero is not octal; a round number JSON wrote as 1e+15 is exact. */
    cr_assert_eq(load("chip: {cores: 010}\nseed: 1e+15\n" PHOLD_APP, NULL, 0, &w, &o), 0, "%s",
                 o.err);
    cr_expect_eq(w.cfg.chip.cores, 10);
    cr_expect_eq(w.cfg.seed, 1000000000000000ull);
    sim_workload_free(&w);
    expect_error("chip: {cores: 16.5}\n" PHOLD_APP,
                 "t.yaml:1:15: expected an integer from 2 to 65536, got '16.5'");
}

Test(workload, pingpong_all_over_a_list_of_cores)
{
    sim_workload w;
    layout("apps:\n  - {kind: pingpong, pairs: all, placement: [1, 2, 3, 4]}\n", &w);
    cr_expect_eq(w.apps[0].instances, 2);
    cr_expect_eq(w.apps[0].client_cores[3], 4);
    sim_workload_free(&w);
}
