// Command node-driver-registrar stands in, on the local test cluster only,
// for kubernetes-csi's node-driver-registrar, whose Go module the module
// proxy this project builds from does not serve. It speaks the same kubelet
// plugin registration protocol and takes the flags the chart passes the
// real one: it asks the driver its name, then serves
// <registration dir>/<name>-reg.sock, where the kubelet finds it and learns
// the driver's socket path. The chart's default is the real image.
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

func main() {
	csiAddress := flag.String("csi-address", "/csi/csi.sock", "the driver's socket in this container")
	endpoint := flag.String("kubelet-registration-path", "", "the driver's socket on the host, as the kubelet reaches it")
	regDir := flag.String("plugin-registration-path", "/registration", "the kubelet's plugin registration directory in this container")
	flag.Parse()
	if *endpoint == "" {
		log.Fatal("--kubelet-registration-path is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	name, err := driverName(ctx, *csiAddress)
	if err != nil {
		log.Fatalf("asking the driver its name: %v", err)
	}
	sock := filepath.Join(*regDir, name+"-reg.sock")
	if err := os.Remove(sock); err != nil && !os.IsNotExist(err) {
		log.Fatal(err)
	}
	lis, err := net.Listen("unix", sock)
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer()
	registerapi.RegisterRegistrationServer(srv, &registration{name: name, endpoint: *endpoint})
	go func() {
		<-ctx.Done()
		srv.Stop()
		_ = os.Remove(sock) // best effort on the way out
	}()
	log.Printf("registering driver %s (socket %s) through %s", name, *endpoint, sock)
	if err := srv.Serve(lis); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}

// driverName asks the driver's Identity service, retrying while the driver
// starts.
func driverName(ctx context.Context, addr string) (string, error) {
	conn, err := grpc.NewClient("unix://"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close() }()
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		info, err := csi.NewIdentityClient(conn).GetPluginInfo(cctx, &csi.GetPluginInfoRequest{})
		cancel()
		if err == nil {
			return info.GetName(), nil
		}
		log.Printf("driver not answering yet: %v", err)
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

type registration struct {
	registerapi.UnimplementedRegistrationServer
	name, endpoint string
}

func (r *registration) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{Type: registerapi.CSIPlugin, Name: r.name, Endpoint: r.endpoint, SupportedVersions: []string{"1.0.0"}}, nil
}

// NotifyRegistrationStatus: a refused registration ends the process, as
// upstream's does, so the pod restarts and tries again.
func (r *registration) NotifyRegistrationStatus(_ context.Context, s *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if !s.PluginRegistered {
		log.Fatalf("the kubelet refused the registration: %s", s.Error)
	}
	log.Printf("the kubelet registered driver %s", r.name)
	return &registerapi.RegistrationStatusResponse{}, nil
}
