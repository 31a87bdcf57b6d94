// DRBD's configuration layer: the resource files drbdadm reads
// (/etc/drbd.d/*.res), tokenized and parsed as drbd-utils does, and the
// lookup of a resource's section for this host.

package hostsim

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/kube-lustre/kube-lustre/internal/host"
)

// resConfig is what the simulator needs from a .res file.
type resConfig struct {
	Name     string
	Protocol string
	Fencing  string
	Handlers map[string]string // handler name -> command, e.g. fence-peer
	On       map[string]onSection
}

type onSection struct {
	Device  string
	Minor   int
	Disk    string
	Address string
	MetaInt bool
}

// confNode is one statement of drbd.conf syntax: words, then either ';' or
// a '{ ... }' block.
type confNode struct {
	Words    []string
	Children []confNode
}

func tokenize(s string) []string {
	var toks []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			toks = append(toks, cur.String())
			cur.Reset()
		}
	}
	for _, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		quoted := false
		for _, r := range line {
			switch {
			case r == '"':
				// A quoted string is one word (a handler command has
				// spaces); the quotes stay and parseBlock trims them.
				quoted = !quoted
				cur.WriteRune(r)
			case quoted:
				cur.WriteRune(r)
			case r == '{' || r == '}' || r == ';':
				flush()
				toks = append(toks, string(r))
			case r == ' ' || r == '\t' || r == '\r':
				flush()
			default:
				cur.WriteRune(r)
			}
		}
		flush()
	}
	return toks
}

// parseBlock parses statements until a closing brace or the end.
func parseBlock(toks []string, i int) ([]confNode, int, error) {
	var nodes []confNode
	var words []string
	for i < len(toks) {
		t := toks[i]
		i++
		switch t {
		case ";":
			nodes = append(nodes, confNode{Words: words})
			words = nil
		case "{":
			children, next, err := parseBlock(toks, i)
			if err != nil {
				return nil, 0, err
			}
			if next > len(toks) || toks[next-1] != "}" {
				return nil, 0, fmt.Errorf("missing '}'")
			}
			nodes = append(nodes, confNode{Words: words, Children: children})
			words, i = nil, next
		case "}":
			if len(words) > 0 {
				return nil, 0, fmt.Errorf("missing ';' after %q", strings.Join(words, " "))
			}
			return nodes, i, nil
		default:
			words = append(words, strings.Trim(t, `"`))
		}
	}
	if len(words) > 0 {
		return nil, 0, fmt.Errorf("missing ';' after %q", strings.Join(words, " "))
	}
	return nodes, i + 1, nil
}

func parseRes(text string) ([]resConfig, error) {
	toks := tokenize(text)
	nodes, _, err := parseBlock(toks, 0)
	if err != nil {
		return nil, err
	}
	var out []resConfig
	for _, n := range nodes {
		if len(n.Words) != 2 || n.Words[0] != "resource" {
			continue
		}
		rc := resConfig{Name: n.Words[1], Protocol: "C", Handlers: map[string]string{}, On: map[string]onSection{}}
		for _, c := range n.Children {
			if len(c.Words) == 0 {
				continue
			}
			switch c.Words[0] {
			case "protocol":
				if len(c.Words) == 2 {
					rc.Protocol = c.Words[1]
				}
			case "net", "disk":
				for _, o := range c.Children {
					if len(o.Words) == 2 && o.Words[0] == "protocol" {
						rc.Protocol = o.Words[1]
					}
					if len(o.Words) == 2 && o.Words[0] == "fencing" {
						rc.Fencing = o.Words[1]
					}
				}
			case "handlers":
				for _, o := range c.Children {
					if len(o.Words) == 2 {
						rc.Handlers[o.Words[0]] = o.Words[1]
					}
				}
			case "on":
				if len(c.Words) != 2 {
					return nil, fmt.Errorf("resource %s: bad 'on' section", rc.Name)
				}
				on, err := parseOn(rc.Name, c.Children)
				if err != nil {
					return nil, err
				}
				rc.On[c.Words[1]] = on
			}
		}
		out = append(out, rc)
	}
	return out, nil
}

// parseOn reads one node's `on NAME { ... }` section of resource res.
func parseOn(res string, options []confNode) (onSection, error) {
	var on onSection
	var err error
	for _, o := range options {
		if len(o.Words) < 2 {
			continue
		}
		switch o.Words[0] {
		case "device":
			on.Device = o.Words[1]
			on.Minor = -1
			if len(o.Words) == 4 && o.Words[2] == "minor" {
				if on.Minor, err = strconv.Atoi(o.Words[3]); err != nil {
					return on, fmt.Errorf("resource %s: bad minor %q", res, o.Words[3])
				}
			}
		case "disk":
			on.Disk = o.Words[1]
		case "address":
			on.Address = o.Words[len(o.Words)-1]
		case "meta-disk":
			on.MetaInt = o.Words[1] == "internal"
		}
	}
	if on.Minor < 0 {
		if on.Minor, err = strconv.Atoi(strings.TrimPrefix(on.Device, "/dev/drbd")); err != nil {
			return on, fmt.Errorf("resource %s: device %q has no minor", res, on.Device)
		}
	}
	return on, nil
}

// resConfigFor finds a resource in /etc/drbd.d/*.res with a section for
// this host. The message on failure is the one drbdadm prints.
func (h *hostState) resConfigFor(name string) (resConfig, onSection, string, host.Result, bool) {
	for _, p := range sortedKeys(h.Files) {
		if path.Dir(p) != "/etc/drbd.d" || !strings.HasSuffix(p, ".res") {
			continue
		}
		rcs, err := parseRes(string(h.Files[p]))
		if err != nil {
			return resConfig{}, onSection{}, "", fail(10, "drbd.d/%s:0: %v", path.Base(p), err), false
		}
		for _, rc := range rcs {
			if rc.Name != name {
				continue
			}
			local, found := rc.On[h.Name]
			if !found || local.Disk == "" || !local.MetaInt {
				return rc, local, "", fail(10, "'%s' not defined in your config (for this host).", name), false
			}
			// drbdsetup attach opens the disk: a udev name is the kernel
			// device it links to.
			local.Disk = h.dev(local.Disk)
			peer := ""
			for n := range rc.On {
				if n != h.Name {
					peer = n
				}
			}
			return rc, local, peer, host.Result{}, true
		}
	}
	return resConfig{}, onSection{}, "", fail(10, "'%s' not defined in your config (for this host).", name), false
}
