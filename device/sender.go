package device

import "context"

// A Sender delivers twins and states to EdgeCore (dmi.Client implements it).
//
// Calls are paced: the reporter calls Wait before each ReportStatus or
// ReportState, and then picks what to send, so that what is sent is the most
// urgent at the moment a call is allowed.
type Sender interface {
	// Wait blocks until one more call may be made, or ctx ends.
	Wait(ctx context.Context) error
	// ReportStatus sends the twins of one device in one call.
	ReportStatus(ctx context.Context, namespace, name string, twins []Twin) error
	// ReportState sends the state of one device.
	ReportState(ctx context.Context, namespace, name, state string) error
}
