package topology

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Problem is one mistake in a values file: where it is, what is wrong, the
// other field it clashes with (if any) and how to fix it.
type Problem struct {
	Path     string `json:"path"`
	Message  string `json:"message"`
	Conflict string `json:"conflict,omitempty"`
	Hint     string `json:"hint"`
}

// String renders a problem on two lines: "path: message" and "fix: hint".
// A problem of the whole document (it is empty, or not a mapping) has no
// path: its line is the message alone.
func (p Problem) String() string {
	var b strings.Builder
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	if p.Conflict != "" {
		fmt.Fprintf(&b, " (clashes with %s)", p.Conflict)
	}
	if p.Hint != "" {
		b.WriteString("\n  fix: ")
		b.WriteString(p.Hint)
	}
	return b.String()
}

// Problems is a list of problems with a stable order.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sortProblems orders by path (array indices numerically), then message, so
// output is stable whatever order the checks ran in; exact duplicates go.
func sortProblems(ps []Problem) []Problem {
	sort.SliceStable(ps, func(i, j int) bool {
		if c := comparePaths(ps[i].Path, ps[j].Path); c != 0 {
			return c < 0
		}
		if ps[i].Message != ps[j].Message {
			return ps[i].Message < ps[j].Message
		}
		return ps[i].Conflict < ps[j].Conflict
	})
	out := ps[:0]
	for i, p := range ps {
		if i > 0 && p == ps[i-1] {
			continue
		}
		out = append(out, p)
	}
	return out
}

// pathTokens splits "targets[12].drbd.port" into ["targets", "[12]", "drbd", "port"].
func pathTokens(p string) []string {
	var toks []string
	cur := strings.Builder{}
	flush := func() {
		if cur.Len() > 0 {
			toks = append(toks, cur.String())
			cur.Reset()
		}
	}
	for _, r := range p {
		switch r {
		case '.':
			flush()
		case '[':
			flush()
			cur.WriteRune(r)
		case ']':
			cur.WriteRune(r)
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return toks
}

func comparePaths(a, b string) int {
	ta, tb := pathTokens(a), pathTokens(b)
	for i := 0; i < len(ta) && i < len(tb); i++ {
		if c := compareToken(ta[i], tb[i]); c != 0 {
			return c
		}
	}
	return len(ta) - len(tb)
}

func compareToken(a, b string) int {
	na, ea := indexOf(a)
	nb, eb := indexOf(b)
	if ea && eb {
		return na - nb
	}
	return strings.Compare(a, b)
}

func indexOf(tok string) (int, bool) {
	if !strings.HasPrefix(tok, "[") || !strings.HasSuffix(tok, "]") {
		return 0, false
	}
	n, err := strconv.Atoi(tok[1 : len(tok)-1])
	return n, err == nil
}

// under reports whether path p is at or below prefix.
func under(p, prefix string) bool {
	if p == prefix {
		return true
	}
	return strings.HasPrefix(p, prefix) && (p[len(prefix)] == '.' || p[len(prefix)] == '[')
}
