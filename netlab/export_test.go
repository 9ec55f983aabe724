package netlab

// WithStepFailure makes Up fail with err right after the named step
// (namespaces, links, routes or ospf) has run, so that tests can check
// that a failure leaves nothing behind.
func WithStepFailure(step string, err error) Option {
	return func(o *options) { o.failStep, o.failErr = step, err }
}

// Steps are the names of Up's steps, in order.
var Steps = []string{"namespaces", "links", "routes", "ospf"}
