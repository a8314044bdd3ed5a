package main

import (
	"os/exec"
	"strings"
	"testing"
)

// modulePath is the module's import path; project packages live below it.
const modulePath = "github.com/payscore-console/payscore-console"

// importRules are docs/ARCHITECTURE.md's "may not import" rules: for each
// project package (relative to the module), the project packages its
// non-test code may not import. "*" forbids every project package.
var importRules = map[string][]string{
	"views":    {"store", "payscore", "service", "handlers", "sandbox"},
	"store":    {"*"},
	"payscore": {"store", "handlers", "service", "sandbox", "views"},
	"sandbox":  {"payscore", "handlers", "service", "views"},
	"service":  {"handlers", "views", "sandbox"},
	"handlers": {"sandbox", "wiring"},
	"wiring":   {"handlers", "views"},
}

// TestImportRules checks every package's imports (not its tests') against
// importRules with `go list`. A package named in the rules that does not
// exist yet has nothing to check.
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		pkg, ok := projectPackage(fields[0])
		if !ok {
			continue
		}
		top, _, _ := strings.Cut(pkg, "/")
		forbidden, ok := importRules[top]
		if !ok {
			continue
		}
		checked++
		for _, imp := range fields[1:] {
			dep, ok := projectPackage(imp)
			if !ok {
				continue
			}
			depTop, _, _ := strings.Cut(dep, "/")
			if depTop == top {
				continue // a package's own sub-packages
			}
			for _, f := range forbidden {
				if f == "*" || f == depTop {
					t.Errorf("%s imports %s: %s may not import %s (docs/ARCHITECTURE.md)", pkg, dep, top, depTop)
				}
			}
		}
	}
	if checked < 5 {
		t.Errorf("only %d packages checked: is `go list` output what the test expects?", checked)
	}
}

// projectPackage returns an import path relative to the module, and false
// for the standard library, other modules and the module root.
func projectPackage(path string) (string, bool) {
	rel, ok := strings.CutPrefix(path, modulePath+"/")
	return rel, ok
}
