package launch

import "runtime/debug"

// Version returns the version a command reports: stamped, the value given
// with -ldflags "-X main.version=…" (make build, the Dockerfiles' VERSION);
// else the module version Go recorded in the binary (v1.2.3 for
// go install …@v1.2.3 or @latest, a pseudo-version for a build from a
// checkout); else "dev".
func Version(stamped string) string {
	info, ok := debug.ReadBuildInfo()
	return versionOf(stamped, info, ok)
}

func versionOf(stamped string, info *debug.BuildInfo, ok bool) string {
	if stamped != "" {
		return stamped
	}
	if ok && info != nil && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}
