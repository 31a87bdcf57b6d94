package metrics

import (
	"fmt"
	"io"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families are gathered metric families: from a registry (Gather) or from
// a scraped /metrics page (Parse).
type Families []*dto.MetricFamily

// Parse reads a /metrics page in the Prometheus text format.
func Parse(r io.Reader) (Families, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	out := make(Families, 0, len(fams))
	for _, f := range fams {
		out = append(out, f)
	}
	return out, nil
}

// series lists the series of name whose labels include labels.
func (fs Families) series(name string, labels map[string]string) []*dto.Metric {
	var out []*dto.Metric
	for _, f := range fs {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabels(m, labels) {
				out = append(out, m)
			}
		}
	}
	return out
}

// Value is the value of the one series of name whose labels include
// labels: a gauge's or counter's value, a histogram's count of
// observations. found is false when none matches; more than one is an
// error (the labels do not name one series).
func (fs Families) Value(name string, labels map[string]string) (v float64, found bool, err error) {
	ms := fs.series(name, labels)
	switch {
	case len(ms) == 0:
		return 0, false, nil
	case len(ms) > 1:
		return 0, true, fmt.Errorf("more than one series of %s has labels %v", name, labels)
	}
	m := ms[0]
	switch {
	case m.Gauge != nil:
		v = m.Gauge.GetValue()
	case m.Counter != nil:
		v = m.Counter.GetValue()
	case m.Histogram != nil:
		v = float64(m.Histogram.GetSampleCount())
	case m.Untyped != nil:
		v = m.Untyped.GetValue()
	}
	return v, true, nil
}

// Sum is the sum of a histogram series' observations (see Value).
func (fs Families) Sum(name string, labels map[string]string) (float64, bool) {
	for _, m := range fs.series(name, labels) {
		if m.Histogram != nil {
			return m.Histogram.GetSampleSum(), true
		}
	}
	return 0, false
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}
