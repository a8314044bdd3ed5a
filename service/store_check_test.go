package service_test

import (
	"github.com/payscore-console/payscore-console/service"
	"github.com/payscore-console/payscore-console/store"
)

var _ service.Store = (*store.DB)(nil)
