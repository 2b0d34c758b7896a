package main

func runBench(e *env, args []string) int {
	f := newFlags("bench", "", `
Run the benchmark suite of package bench (handshakes, records and carriers
against baselines) and print its tables.`)
	pos, status, done := f.parse(e, args)
	if done {
		return status
	}
	if len(pos) > 0 {
		return f.usageError(e, "unexpected argument %q", pos[0])
	}
	errorf(e, "qsmp bench: the benchmark suite is not available yet (package bench has no runner in this build); meanwhile use 'go test -bench . ./...'")
	return exitUsage
}
