package service

import "github.com/payscore-console/payscore-console/payscore"

// afterUnknown reports whether a failure came after an earlier attempt of
// the same call whose outcome is unknown (then WeChat Pay may have acted,
// and the call must not be sent again).
func afterUnknown(f payscore.Failure) bool { return f.AfterUnknown }
