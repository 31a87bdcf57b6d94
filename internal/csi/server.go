package csi

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kube-lustre/kube-lustre/internal/unixsock"
)

// Modes of the server.
const (
	ModeController = "controller"
	ModeNode       = "node"
	// ModeAll serves both, for tests and single-process setups.
	ModeAll = "all"
)

// NewServer returns a gRPC server with the services of mode registered;
// every call is logged, and a panic becomes an Internal error instead of
// killing the process.
func NewServer(d *Driver, mode string) (*grpc.Server, error) {
	if mode != ModeController && mode != ModeNode && mode != ModeAll {
		return nil, fmt.Errorf("mode %q: want %s or %s", mode, ModeController, ModeNode)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(d.intercept))
	csi.RegisterIdentityServer(srv, d.Identity())
	if mode != ModeNode {
		csi.RegisterControllerServer(srv, d.Controller())
	}
	if mode != ModeController {
		csi.RegisterNodeServer(srv, d.Node())
	}
	return srv, nil
}

// changes are the calls that change something, logged when they succeed.
var changes = map[string]bool{"CreateVolume": true, "DeleteVolume": true, "ControllerExpandVolume": true, "NodePublishVolume": true, "NodeUnpublishVolume": true}

func (d *Driver) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			d.log.Error("panic", "method", info.FullMethod, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			resp, err = nil, status.Errorf(codes.Internal, "%s: internal error (a bug): %v", info.FullMethod, p)
		}
		method := info.FullMethod[strings.LastIndex(info.FullMethod, "/")+1:]
		code := status.Code(err)
		d.cfg.Metrics.Call(method, code.String(), time.Since(start))
		switch {
		case err == nil && !changes[method]:
			// Probes, capabilities and stats come every few seconds.
		case err == nil:
			d.log.Info("call", "method", method, "duration", time.Since(start).String())
		default:
			d.log.Warn("call failed", "method", method, "code", code.String(), "err", status.Convert(err).Message(), "duration", time.Since(start).String())
		}
	}()
	return next(ctx, req)
}

// Listen opens the unix socket of an endpoint such as
// unix:///csi/csi.sock, replacing a socket a previous process left there
// (unixsock.Listen).
func Listen(endpoint string) (net.Listener, error) {
	p, found := strings.CutPrefix(endpoint, "unix://")
	if !found {
		p, found = strings.CutPrefix(endpoint, "unix:")
	}
	if !found || !filepath.IsAbs(p) {
		return nil, fmt.Errorf("endpoint %q: want unix:///ABSOLUTE/PATH, e.g. unix:///csi/csi.sock", endpoint)
	}
	l, err := unixsock.Listen(p, 0o750)
	if err != nil {
		return nil, fmt.Errorf("endpoint %s (or choose another path): %w", endpoint, err)
	}
	return l, nil
}

// Serve serves mode on endpoint until ctx is done, then stops gracefully
// (in-flight calls finish, for at most grace).
func Serve(ctx context.Context, d *Driver, mode, endpoint string, grace time.Duration) error {
	srv, err := NewServer(d, mode)
	if err != nil {
		return err
	}
	l, err := Listen(endpoint)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		stopped := make(chan struct{})
		go func() { srv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(grace):
			srv.Stop()
		}
	}()
	d.log.Info("serving", "mode", mode, "endpoint", endpoint, "driver", d.cfg.Name, "root", d.cfg.Root)
	err = srv.Serve(l)
	if ctx.Err() != nil {
		<-done
		return nil
	}
	return err
}
