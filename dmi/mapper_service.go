package dmi

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tinymapper/tinymapper/device"
	pb "github.com/tinymapper/tinymapper/dmi/v1beta1"
)

// mapperService is the DeviceMapperService EdgeCore calls. It keeps the gRPC
// methods off Server's own API.
type mapperService struct {
	pb.UnimplementedDeviceMapperServiceServer
	s *Server
}

var _ pb.DeviceMapperServiceServer = mapperService{}

func (m mapperService) RegisterDevice(_ context.Context, req *pb.RegisterDeviceRequest) (*pb.RegisterDeviceResponse, error) {
	dev, err := m.s.putDevice(req.GetDevice())
	if err != nil {
		m.s.log.Warn("rejected device", "err", err)
		return nil, grpcError(err)
	}
	m.s.log.Info("device registered", "device", device.Key(dev.Namespace, dev.Name), "protocol", dev.Protocol)
	return &pb.RegisterDeviceResponse{DeviceName: dev.Name, DeviceNamespace: dev.Namespace}, nil
}

func (m mapperService) UpdateDevice(_ context.Context, req *pb.UpdateDeviceRequest) (*pb.UpdateDeviceResponse, error) {
	dev, err := m.s.putDevice(req.GetDevice())
	if err != nil {
		m.s.log.Warn("rejected device update", "err", err)
		return nil, grpcError(err)
	}
	m.s.log.Info("device updated", "device", device.Key(dev.Namespace, dev.Name))
	return &pb.UpdateDeviceResponse{}, nil
}

func (m mapperService) RemoveDevice(_ context.Context, req *pb.RemoveDeviceRequest) (*pb.RemoveDeviceResponse, error) {
	if req.GetDeviceName() == "" {
		return nil, grpcError(missing("deviceName"))
	}
	ns := namespaceOr(req.GetDeviceNamespace())
	if err := checkNames("device", ns, req.GetDeviceName(), 0); err != nil {
		return nil, grpcError(err)
	}
	if err := m.s.removeDevice(ns, req.GetDeviceName()); err != nil {
		m.s.log.Warn("cannot remove device", "err", err)
		return nil, grpcError(err)
	}
	m.s.log.Info("device removed", "device", device.Key(ns, req.GetDeviceName()))
	return &pb.RemoveDeviceResponse{}, nil
}

func (m mapperService) CreateDeviceModel(_ context.Context, req *pb.CreateDeviceModelRequest) (*pb.CreateDeviceModelResponse, error) {
	model, err := m.s.putModel(req.GetModel())
	if err != nil {
		m.s.log.Warn("rejected model", "err", err)
		return nil, grpcError(err)
	}
	m.s.log.Info("model created", "model", device.Key(model.Namespace, model.Name))
	return &pb.CreateDeviceModelResponse{DeviceModelName: model.Name, DeviceModelNamespace: model.Namespace}, nil
}

func (m mapperService) UpdateDeviceModel(_ context.Context, req *pb.UpdateDeviceModelRequest) (*pb.UpdateDeviceModelResponse, error) {
	model, err := m.s.putModel(req.GetModel())
	if err != nil {
		m.s.log.Warn("rejected model update", "err", err)
		return nil, grpcError(err)
	}
	m.s.log.Info("model updated", "model", device.Key(model.Namespace, model.Name))
	return &pb.UpdateDeviceModelResponse{}, nil
}

func (m mapperService) RemoveDeviceModel(_ context.Context, req *pb.RemoveDeviceModelRequest) (*pb.RemoveDeviceModelResponse, error) {
	if req.GetModelName() == "" {
		return nil, grpcError(missing("modelName"))
	}
	ns := namespaceOr(req.GetModelNamespace())
	if err := checkNames("model", ns, req.GetModelName(), 0); err != nil {
		return nil, grpcError(err)
	}
	if err := m.s.removeModel(ns, req.GetModelName()); err != nil {
		m.s.log.Warn("cannot remove model", "err", err)
		return nil, grpcError(err)
	}
	m.s.log.Info("model removed", "model", device.Key(ns, req.GetModelName()))
	return &pb.RemoveDeviceModelResponse{}, nil
}

func (m mapperService) GetDevice(_ context.Context, req *pb.GetDeviceRequest) (*pb.GetDeviceResponse, error) {
	if req.GetDeviceName() == "" {
		return nil, grpcError(missing("deviceName"))
	}
	ns := namespaceOr(req.GetDeviceNamespace())
	if err := checkNames("device", ns, req.GetDeviceName(), 0); err != nil {
		return nil, grpcError(err)
	}
	d, ok := m.s.getDevice(ns, req.GetDeviceName())
	if !ok {
		return nil, status.Errorf(codes.NotFound, "device %s is not known to this mapper", device.Key(ns, req.GetDeviceName()))
	}
	return &pb.GetDeviceResponse{Device: d}, nil
}
