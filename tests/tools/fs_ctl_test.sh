#!/usr/bin/env bash
# durfsctl against a live daemon: status, stats (and --watch), checkpoint, text
# and --json; recover refused while the daemon holds the backing directory; then
# a daemon killed with SIGKILL mid-workload: verify says "needs recovery" (1),
# dump shows the operations performed, recover replays, verify is clean (0); and a
# damaged segment: verify exits 2 naming the file.
#   fs_ctl_test.sh DURFS MOUNT_DURFS DURFSCTL
DURFS=$(realpath "$1") MOUNT_DURFS=$(realpath "$2") DURFSCTL=$(realpath "$3")
. "$(dirname "$0")/lib.sh"
CTL=$DURFSCTL
B=$T/backing M=$T/mnt
mkdir -p "$B" "$M"

echo "== live daemon"
expect_rc 0 "durfs mounts" "$DURFS" -o durability=close "$B" "$M"
mkdir "$M/d"
for i in $(seq 1 20); do
    echo "v$i" >"$M/d/f$i.tmp" && mv "$M/d/f$i.tmp" "$M/d/f$i"
done
rm "$M/d/f1"
expect_rc 0 "status" "$CTL" status "$M"
for field in "mode:" "close" "backing:" "$B" "journal:" "last checkpoint:" "since checkpoint:" \
    "last recovery:" "syncs:" "errors:" "durable now:"; do
    out_has "$field" "status shows '$field'"
done
expect_rc 0 "status --json" "$CTL" status "$M" --json
json_check "d['mode'] == 'close' and d['backing'] == '$B' and d['last_lsn'] >= 41 and d['durable_lsn'] == d['last_lsn'] and d['all_durable'] is True" \
    "status --json: mode, backing, 41+ records all durable (close mode acks only durable records)"
expect_rc 0 "status on a directory inside the mount" "$CTL" status "$M/d" --json
json_check "d['mountpoint'] == '$M'" "status inside the mount reports the mount's root"
expect_rc 0 "stats" "$CTL" stats "$M"
out_has "p99_us" "stats has latency columns"
out_has "rename" "stats lists rename"
expect_rc 0 "stats --json" "$CTL" stats "$M" --json
json_check "sum(v['count'] for k, v in d['ops'].items() if 'rename' in k) >= 20" "stats --json counts the 20 renames"
expect_rc 0 "stats --watch 0.2 --count 2" "$CTL" stats "$M" --watch 0.2 --count 2
[ "$(grep -c 'durfs stats for' "$T/out")" -eq 2 ] && ok "--watch printed 2 samples" || bad "--watch samples: $(grep -c 'durfs stats for' "$T/out")"
out_has "ops/s" "--watch shows rates"
expect_rc 0 "stats --watch --json --count 2" "$CTL" stats "$M" --watch 0.2 --count 2 --json
python3 -c "import json,sys; l=open(sys.argv[1]).read().splitlines(); assert len(l)==2; [json.loads(x)['ops'] for x in l]" "$T/out" &&
    ok "--watch --json: one document per line" || bad "--watch --json output not 2 JSON lines"
before=$("$CTL" status "$M" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["last_lsn"])')
expect_rc 0 "checkpoint" "$CTL" checkpoint "$M"
out_has "checkpoint done" "checkpoint reports"
expect_rc 0 "checkpoint --json" "$CTL" checkpoint "$M" --json
# The checkpoint covers every record before it; only its own marker follows,
# which is not counted.
json_check "d['checkpoint'] == 'done' and d['records_since_checkpoint'] == 0 and d['lsn'] >= $before" \
    "checkpoint --json: covers LSN $before, nothing left to replay"
expect_rc 0 "status --json after checkpoint" "$CTL" status "$M" --json
json_check "d['records_since_checkpoint'] == 0 and d['checkpoint']['lsn'] >= $before" "status shows the forced checkpoint"
pid=$(daemon_pid_for "$M")
"$CTL" verify "$B" --json >"$T/out" 2>"$T/err"
json_check "d['daemon_pid'] == $pid" "verify of a live journal names the daemon's pid ($pid)"
expect_rc 1 "recover refused while the daemon holds the backing" "$CTL" recover "$B"
out_has "in use by a durfs daemon" "refusal names the daemon"
expect_rc 1 "status as non-root" setpriv --reuid=65534 --regid=65534 --clear-groups "$CTL" status "$M"
out_has "permission denied: the control interface is root-only" "non-root gets the root-only message"
expect_rc 0 "umount" umount "$M"
wait_gone "$pid" || bad "daemon still running after umount"

echo "== daemon killed mid-workload"
expect_rc 0 "durfs mounts again" "$DURFS" "$B" "$M"
pid=$(daemon_pid_for "$M")
[ -n "$pid" ] && ok "daemon pid $pid" || bad "daemon pid not found"
mkdir "$M/k"
( for i in $(seq 1 5000); do
    echo "w$i" >"$M/k/w$i.tmp" 2>/dev/null && mv "$M/k/w$i.tmp" "$M/k/w$i" 2>/dev/null || exit 0
done ) &
wl=$!
# Kill once the workload is well under way (bounded wait, not a timing claim).
for _ in $(seq 1 600); do
    [ "$(ls "$B/k" 2>/dev/null | wc -l)" -ge 100 ] && break
    sleep 0.05
done
kill -9 "$pid"
wait "$wl"
wait_gone "$pid" || bad "killed daemon did not exit"
expect_rc 1 "status with the daemon gone" "$CTL" status "$M"
out_has "daemon is gone" "status says the daemon is gone"
umount -l "$M" 2>/dev/null
done_files=$(ls "$B/k" | grep -c '^w[0-9]*$')
[ "$done_files" -ge 50 ] && ok "killed after $done_files renames" || bad "only $done_files renames before the kill"
expect_rc 1 "verify needs recovery" "$CTL" verify "$B"
out_has "needs recovery" "verify says so"
expect_rc 1 "verify --json" "$CTL" verify "$B" --json
json_check "d['result'] == 'needs_recovery' and d['exit'] == 1" "verify --json says needs_recovery"
expect_rc 0 "dump" "$CTL" dump "$B"
last=$(ls "$B/k" | grep '^w[0-9]*$' | sed 's/^w//' | sort -n | tail -1)
out_has "w$last" "dump shows the last acknowledged rename (w$last)"
out_has "w1.tmp" "dump shows the first create (w1.tmp)"
expect_rc 0 "dump --json" "$CTL" dump "$B" --json
json_check "any('w$last' in r for r in d['records'])" "dump --json lists it too"
expect_rc 0 "recover" "$CTL" recover "$B"
out_has "recovered" "recover prints its report"
expect_rc 0 "verify after recover" "$CTL" verify "$B"
out_has "clean" "clean after recover"
expect_rc 0 "recover again is a no-op" "$CTL" recover "$B" --json
json_check "d['ops_redone'] == 0 and d['ops_skipped'] == 0" "second recover has nothing to redo"

echo "== journal kept elsewhere (journal=), recovery report at mount"
B2=$T/backing2 J=$T/journal2
mkdir -p "$B2" "$J"
expect_rc 0 "durfs with journal=" "$DURFS" -o "journal=$J" "$B2" "$M"
pid=$(daemon_pid_for "$M")
for i in $(seq 1 10); do echo "j$i" >"$M/j$i.tmp" && mv "$M/j$i.tmp" "$M/j$i"; done
kill -9 "$pid"
wait_gone "$pid" || bad "killed daemon did not exit"
umount -l "$M" 2>/dev/null
expect_rc 1 "verify JOURNALDIR needs recovery" "$CTL" verify "$J"
expect_rc 0 "dump JOURNALDIR" "$CTL" dump "$J"
out_has "j10" "dump JOURNALDIR shows the last rename"
expect_rc 0 "mount again replays the journal" "$DURFS" -o "journal=$J" "$B2" "$M"
pid=$(daemon_pid_for "$M")
expect_rc 0 "status after recovery at mount" "$CTL" status "$M"
out_has "last recovery:" "status shows the recovery report"
expect_rc 0 "status --json after recovery at mount" "$CTL" status "$M" --json
json_check "d['recovery']['records_replayed'] >= 20 and d['journal_dir'] == '$J'" \
    "status --json: the mount replayed the 20 records from journal=$J"
expect_rc 0 "umount" umount "$M"
wait_gone "$pid" || bad "daemon still running after umount"
expect_rc 0 "verify JOURNALDIR clean after umount" "$CTL" verify "$J"
expect_rc 0 "durfs with journal= once more" "$DURFS" -o "journal=$J" "$B2" "$M"
pid=$(daemon_pid_for "$M")
for i in $(seq 1 10); do echo "k$i" >"$M/k$i"; done
kill -9 "$pid"
wait_gone "$pid" || bad "killed daemon did not exit"
umount -l "$M" 2>/dev/null
expect_rc 0 "recover --journal" "$CTL" recover "$B2" --journal "$J" --json
json_check "d['records_replayed'] >= 10 and d['ops_skipped'] == 0" "recover --journal replayed the 10 creates"
expect_rc 0 "verify JOURNALDIR clean after recover --journal" "$CTL" verify "$J"

echo "== damaged segment"
expect_rc 0 "durfs mounts" "$DURFS" "$B" "$M"
pid=$(daemon_pid_for "$M")
for i in $(seq 1 30); do echo "x" >"$M/k/x$i"; done
kill -9 "$pid"
wait_gone "$pid" || bad "killed daemon did not exit"
umount -l "$M" 2>/dev/null
seg=$(ls "$B"/.durfs/journal/wal/* | sort | tail -1)
size=$(stat -c %s "$seg")
# A flipped byte in the first record after the 40-byte header, with intact
# records after it: damage, not a torn tail.
printf '\xff' | dd of="$seg" bs=1 seek=60 conv=notrunc status=none
expect_rc 2 "verify damaged segment ($size bytes)" "$CTL" verify "$B"
out_has "$(basename "$seg")" "verify names the damaged file"
out_has "offset" "verify names the offset"
expect_rc 1 "recover refuses a corrupt journal" "$CTL" recover "$B"
out_has "$(basename "$seg")" "recover names the damaged file"

finish
