package awards

// The page token codec, for the pagination and fuzz tests.
var (
	EncodePageTokenForTest = encodePageToken
	DecodePageTokenForTest = decodePageToken
)
