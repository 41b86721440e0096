package langpack


type phpGenerator struct{}

func (phpGenerator) files(c *catalogue) ([]File, error)   { return nil, nil }
func (phpGenerator) versioned(c *catalogue, v int) []File { return nil }
