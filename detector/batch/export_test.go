package batch

// Exported for tests: the extractor options Check and Predict use.
var (
	CheckExtractOptions   = checkExtractOptions
	PredictExtractOptions = predictExtractOptions
)
