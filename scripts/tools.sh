# Sourced by the scripts: where the Go programs the tests run are kept, and
# how one is built. Each program is built once per version into
# $TOOLS_DIR/<name>@<version>/ (a cache outside the checkout, so a fresh
# clone reuses it) and linked as $TOOLS_DIR/bin/<name>, where the tests
# find it (internal/testutil.Tool).

TOOLS_DIR=${CADDY_LOGOUT_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/caddy-logout/tools}
export CADDY_LOGOUT_TOOLS=$TOOLS_DIR
mkdir -p "$TOOLS_DIR/bin"

# go_tool <name> <package> <version>: go install <package>@<version>, which
# builds in its own module graph and never touches ours.
go_tool() {
	local name=$1 pkg=$2 version=$3
	local dir="$TOOLS_DIR/$name@$version"
	if [ ! -x "$dir/$name" ]; then
		echo "test-setup: building $name $version"
		GOBIN="$dir" go install "$pkg@$version"
		# go install names the binary after the package (oauth2-proxy for
		# .../oauth2-proxy/v7); give it the tool's name.
		[ -x "$dir/$name" ] || mv "$(find "$dir" -maxdepth 1 -type f | head -1)" "$dir/$name"
	fi
	ln -sfn "$dir/$name" "$TOOLS_DIR/bin/$name"
}

# go_module_tool <name> <module> <version> [go build flags...]: builds the
# program at the root of <module>@<version> from the module's own source
# and go.mod, for programs that go install refuses (a go.mod with replace
# directives, as Ory Kratos and Ory Hydra have). The source is copied out
# of the module cache (which is read-only) and built there with CGO, then
# removed. GO_MODULE_TOOL_DROP_REPLACE names replaced modules whose
# replacement directory the module's zip does not carry (a nested module
# of its own): their required version then comes from the module proxy.
go_module_tool() {
	local name=$1 module=$2 version=$3
	shift 3
	local dir="$TOOLS_DIR/$name@$version"
	if [ ! -x "$dir/$name" ]; then
		echo "test-setup: building $name $version from its module"
		local src work m
		src=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
		[ -d "$src" ] || { echo "test-setup: go mod download $module@$version gave no source directory" >&2; return 1; }
		work=$(mktemp -d)
		cp -R "$src/." "$work"
		chmod -R u+w "$work"
		for m in ${GO_MODULE_TOOL_DROP_REPLACE:-}; do
			(cd "$work" && go mod edit -dropreplace="$m")
		done
		mkdir -p "$dir"
		if ! (cd "$work" && CGO_ENABLED=1 GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod" go build -o "$dir/$name.tmp" "$@" .); then
			rm -rf "$work"
			return 1
		fi
		mv "$dir/$name.tmp" "$dir/$name"
		rm -rf "$work"
	fi
	ln -sfn "$dir/$name" "$TOOLS_DIR/bin/$name"
}
