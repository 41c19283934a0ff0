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
