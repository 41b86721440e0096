package langpack

type pythonGenerator struct{}

func (pythonGenerator) files(c *catalogue) ([]File, error)   { return nil, nil }
func (pythonGenerator) versioned(c *catalogue, v int) []File { return nil }

type typescriptGenerator struct{}

func (typescriptGenerator) files(c *catalogue) ([]File, error)   { return nil, nil }
func (typescriptGenerator) versioned(c *catalogue, v int) []File { return nil }

type phpGenerator struct{}

func (phpGenerator) files(c *catalogue) ([]File, error)   { return nil, nil }
func (phpGenerator) versioned(c *catalogue, v int) []File { return nil }
