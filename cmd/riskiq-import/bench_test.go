package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/riskiq-opencti/connectors/internal/passivetotal/passivetotaltest"
	"github.com/riskiq-opencti/connectors/opencti/openctitest"
)

// childEnv marks the benchmark's child process: the test binary re-executed
// as the connector, so that its time and memory are measured alone.
const childEnv = "RISKIQ_IMPORT_BENCH_CHILD"

// hwmEnv names the file where the child writes its peak RSS (VmHWM, kB)
// when it exits. The parent cannot use the child's rusage: Go starts children
// with CLONE_VM, so ru_maxrss counts the parent's pages until exec.
const hwmEnv = "RISKIQ_IMPORT_BENCH_HWM"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		stopProfile := startProfile()
		code := run(nil, os.LookupEnv, os.Stdout, os.Stderr)
		stopProfile()
		writeHWM()
		os.Exit(code)
	}
	if script := os.Getenv(baselineChildEnv); script != "" {
		err := runImportBaseline(script)
		writeHWM()
		if err != nil {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// writeHWM writes the process's peak RSS to the file named by hwmEnv.
func writeHWM() {
	path := os.Getenv(hwmEnv)
	if path == "" {
		return
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			_ = os.WriteFile(path, []byte(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))), 0o600)
		}
	}
}

// benchData is count generated articles of n indicator values each (domains,
// IPv4 and IPv6 addresses, MD5 and SHA-256 hashes, URLs, e-mail addresses;
// half of the groups public), without tags.
func benchData(tb testing.TB, count, n int) *passivetotaltest.Data {
	tb.Helper()
	quota, err := fs.ReadFile(passivetotaltest.DataFS(), "quota.json")
	if err != nil {
		tb.Fatal(err)
	}
	m := fstest.MapFS{"quota.json": {Data: quota}}
	gens := []struct {
		typ string
		gen func(i, j int) string
	}{
		{"domain", func(i, j int) string { return fmt.Sprintf("host-%d-%d.example.com", i, j) }},
		{"ip", func(i, j int) string { return fmt.Sprintf("10.%d.%d.%d", i/250, i%250, j) }},
		{"ip", func(i, j int) string { return fmt.Sprintf("2001:db8:%x::%x", i, j) }},
		{"hash_md5", func(i, j int) string { return fmt.Sprintf("%032x", i*1000+j) }},
		{"hash_sha256", func(i, j int) string { return fmt.Sprintf("%064x", i*1000+j) }},
		{"url", func(i, j int) string { return fmt.Sprintf("https://host-%d.example.com/p/%d", i, j) }},
		{"email", func(i, j int) string { return fmt.Sprintf("user%d@host-%d.example.com", j, i) }},
	}
	for i := range count {
		groups := make([]map[string]any, len(gens))
		for k, g := range gens {
			groups[k] = map[string]any{"type": g.typ, "values": []string{}, "source": map[bool]string{true: "public", false: "riskiq"}[k%2 == 0]}
		}
		for j := range n {
			g := groups[j%len(gens)]
			g["values"] = append(g["values"].([]string), gens[j%len(gens)].gen(i, j))
		}
		created := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour).Format("2006-01-02T15:04:05.000-0700")
		guid := fmt.Sprintf("%08x", 0xbe000000+i)
		b, err := json.Marshal(map[string]any{
			"guid": guid, "title": fmt.Sprintf("Benchmark article %d", i), "summary": "Generated.", "type": "public",
			"publishedDate": created, "createdDate": created, "link": "https://community.riskiq.com/article/" + guid,
			"categories": []string{}, "tags": []string{}, "indicators": groups,
		})
		if err != nil {
			tb.Fatal(err)
		}
		m["articles/"+guid+".json"] = &fstest.MapFile{Data: b}
	}
	d, err := passivetotaltest.LoadData(m)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// BenchmarkIntegrationImportProcess runs the connector binary (this test
// binary re-executed) with CONNECTOR_RUN_AND_TERMINATE against the fake
// PassiveTotal serving 200 articles of 50 indicator values, the fake OpenCTI
// and the real RabbitMQ: one op is one process from start to exit, having
// imported 200 reports (about 30 600 messages, observables included). The
// platform's worker consumes in the test process meanwhile, on the same CPUs.
// Reported: the connector's peak RSS and CPU time. BENCH_CONCURRENCY sets
// CONNECTOR_CONCURRENCY, the number of articles published at once.
func BenchmarkIntegrationImportProcess(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	octi := openctitest.NewServer(b)
	pt := passivetotaltest.NewServer(b, passivetotaltest.WithData(benchData(b, 200, 50)))
	hwmFile := filepath.Join(b.TempDir(), "vmhwm")
	var maxRSS, cpu float64
	ops := 0
	for b.Loop() {
		env := connectorEnv(octi, pt, map[string]string{"CONNECTOR_RUN_AND_TERMINATE": "true", "CONNECTOR_LOG_LEVEL": "error"})
		if n := os.Getenv("BENCH_CONCURRENCY"); n != "" {
			env["CONNECTOR_CONCURRENCY"] = n // articles published at once (default 8)
		}
		cmd := exec.CommandContext(b.Context(), exe)
		cmd.Env = []string{childEnv + "=1", hwmEnv + "=" + hwmFile}
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		var stderr strings.Builder
		cmd.Stdout, cmd.Stderr = io.Discard, &stderr
		if err := cmd.Run(); err != nil {
			b.Fatalf("connector: %v\n%s", err, stderr.String())
		}
		b.StopTimer()
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		hwm, err := os.ReadFile(hwmFile)
		if err != nil {
			b.Fatal(err)
		}
		kb, err := strconv.Atoi(string(hwm))
		if err != nil {
			b.Fatalf("VmHWM %q: %v", hwm, err)
		}
		maxRSS = max(maxRSS, float64(kb)/1024)
		cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
		ops++
		works := connectorWorks(octi, env["CONNECTOR_ID"])
		if len(works) != 1 || !strings.HasPrefix(strings.Join(works[0].Messages, ""), "200 articles read, 200 reports sent") {
			b.Fatalf("works = %+v", works)
		}
		waitDrained(b, octi, env["CONNECTOR_ID"], works[0].ID)
		b.StartTimer()
	}
	b.ReportMetric(maxRSS, "connector-peak-RSS-MB")
	b.ReportMetric(cpu/float64(ops), "connector-CPU-s/op")
}

// waitDrained waits until the worker has handled every message of the work.
func waitDrained(b *testing.B, octi *openctitest.Server, connectorID, workID string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), 5*time.Minute)
	defer cancel()
	for {
		w, _ := octi.Work(workID)
		if w.Status == openctitest.StatusComplete && w.Processed >= w.Expected {
			return
		}
		select {
		case <-ctx.Done():
			b.Fatalf("work %s not drained: %+v", workID, w)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
