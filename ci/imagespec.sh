# shellcheck shell=bash
# What each kube-lustre image holds: the one place both the release images
# (ci/images.sh) and the test cluster's (ci/cluster/images.sh) read, so the
# two cannot drift apart. Sourced, not run.
#
# Every image is FROM scratch: its static binary in /usr/local/bin as the
# entrypoint; the images that touch the host add busybox-static as
# /usr/bin/nsenter (busybox picks the applet from argv[0]) and run as root;
# the two that only talk to the API server (labeler, failover-controller)
# get no nsenter and run as 65532. The client also gets busybox's cat (a
# link to it), for the helm test (an unprivileged pod reads its own mount
# table with it).

# BUSYBOX_VERSION is Debian 12's busybox-static, the nsenter of every image.
BUSYBOX_VERSION=1:1.35.0-4+deb12u1+b1

# image_args NAME BIN NSENTER: ociimage's arguments for image NAME, one per
# line, with its binary at BIN and a static busybox at NSENTER.
image_args() {
	local n=$1 bin=$2 nsenter=$3
	printf '%s\n' -file "$bin=/usr/local/bin/$n" -entrypoint "/usr/local/bin/$n"
	case $n in
	labeler) printf '%s\n' -cmd apply -user 65532:65532 ;;
	failover-controller) printf '%s\n' -cmd run -user 65532:65532 ;;
	installer) printf '%s\n' -file "$nsenter=/usr/bin/nsenter" -cmd verify ;;
	lustre-client) printf '%s\n' -file "$nsenter=/usr/bin/nsenter" -symlink /usr/bin/cat=nsenter -cmd run ;;
	*) printf '%s\n' -file "$nsenter=/usr/bin/nsenter" -cmd run ;;
	esac
}

# values_key NAME: the key of image NAME under the chart's images.
values_key() {
	case $1 in
	lustre-target) echo target ;;
	lustre-client) echo client ;;
	failover-controller) echo failover ;;
	*) echo "$1" ;;
	esac
}

# app_version ROOT: the chart's appVersion, the tag of every image.
app_version() {
	local v
	v=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$1/charts/kube-lustre/Chart.yaml")
	[ -n "$v" ] || { echo "no appVersion in $1/charts/kube-lustre/Chart.yaml" >&2; return 1; }
	echo "$v"
}
