package topology

// Check loads and validates in one call: the edge every binary uses.
// err is an I/O or parse failure (exit 2 in the plugin); problems are
// mistakes in the values (exit 1).
func Check(o Options) (*Values, Problems, error) {
	vals, err := Load(o)
	if err != nil {
		return nil, nil, err
	}
	return Validate(vals)
}

// CheckBytes is Check for one document in memory (the rendered ConfigMap).
func CheckBytes(doc []byte) (*Values, Problems, error) {
	vals, err := LoadBytes(doc)
	if err != nil {
		return nil, nil, err
	}
	return Validate(vals)
}
