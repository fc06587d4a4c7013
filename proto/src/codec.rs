//! The gRPC codec of every Lookout service: prost encoding, with a message that is not valid
//! protobuf reported as `INVALID_ARGUMENT` (the caller sent bad bytes) instead of prost's
//! `INTERNAL` (which says the server failed).

use std::marker::PhantomData;

use prost::Message;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic::{Code, Status};
use tonic_prost::{ProstDecoder, ProstEncoder};

/// Named in `build.rs` as the generated services' and clients' codec.
#[derive(Debug, Clone)]
pub struct LookoutCodec<T, U> {
    _pd: PhantomData<(T, U)>,
}

impl<T, U> Default for LookoutCodec<T, U> {
    fn default() -> Self {
        LookoutCodec { _pd: PhantomData }
    }
}

impl<T, U> Codec for LookoutCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = LookoutDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        LookoutDecoder(ProstDecoder::default())
    }
}

/// Prost's decoder with decode failures mapped to `INVALID_ARGUMENT`.
#[derive(Debug, Clone)]
pub struct LookoutDecoder<U>(ProstDecoder<U>);

impl<U: Message + Default> Decoder for LookoutDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.0.decode(buf).map_err(|s| match s.code() {
            // Prost fails only when the bytes are not an encoding of `U`: the sender's fault.
            Code::Internal => Status::invalid_argument(format!(
                "message is not valid protobuf: {}",
                crate::bounds::excerpt(s.message())
            )),
            _ => s,
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}
