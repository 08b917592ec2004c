//! The blob protocol on the wire: `/neuroshard/blobs/2`, libp2p request-response. A request
//! names a blob and a piece (1 MiB); the answer is that piece's BLAKE3 verified-streaming
//! encoding (bao-tree), piece 0 with the last chunk too so that the blob's size is proven. Both
//! messages are length-prefixed borsh with hard caps, read before anything is allocated.

use std::io;

use async_trait::async_trait;
use bao_tree::{BlockSize, ChunkNum, ChunkRanges};
use borsh::{BorshDeserialize, BorshSerialize};
use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

use neuroshard_runtime::Address;

use super::BlobHash;

pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/neuroshard/blobs/2");

/// Chunk groups of 16 KiB: the outboard holds one hash pair per group.
pub const BLOCK_SIZE: BlockSize = BlockSize::from_chunk_log(4);

/// Bytes of blob data per piece (a request's unit).
pub const PIECE_BYTES: u64 = 1 << 20;
const PIECE_CHUNKS: u64 = PIECE_BYTES / 1024;

/// Most bytes a request may take on the wire.
pub const MAX_REQUEST_BYTES: usize = 256;
/// Most bytes an answer may take: a piece, its hash pairs and the last chunk, with room.
pub const MAX_RESPONSE_BYTES: usize = PIECE_BYTES as usize + 256 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct BlobRequest {
    pub hash: BlobHash,
    pub piece: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum BlobResponse {
    /// The blob's size and the piece's encoding, and the registered node (training identity)
    /// that serves it, if the serving process has one: what a trainer names as its data server
    /// (`Proof::data_server`). Nobody can check this claim, and nobody gains by a false one: a
    /// trainer names whom it likes, and the data reward is bounded by its checked training.
    Piece {
        size: u64,
        encoded: Vec<u8>,
        server: Option<Address>,
    },
    /// This peer does not hold the blob (or it has no such piece).
    NotFound,
    /// This peer is serving as much as it will: ask another.
    Busy,
}

/// Pieces of a blob of `size` bytes (an empty blob has one, holding the empty chunk).
pub fn piece_count(size: u64) -> u64 {
    size.div_ceil(PIECE_BYTES).max(1)
}

/// The chunk ranges of piece `piece`; piece 0 adds the last chunk (a query past the end asks
/// for it), which proves the blob's size.
pub fn piece_ranges(piece: u64) -> ChunkRanges {
    let start = piece.saturating_mul(PIECE_CHUNKS);
    let end = start.saturating_add(PIECE_CHUNKS);
    let mut ranges = ChunkRanges::from(ChunkNum(start)..ChunkNum(end));
    if piece == 0 {
        ranges |= ChunkRanges::from(ChunkNum(u64::MAX / 2)..);
    }
    ranges
}

/// Length-prefixed borsh for [`BlobRequest`] and [`BlobResponse`].
#[derive(Clone, Default)]
pub struct BlobCodec;

async fn read_capped<T: AsyncRead + Unpin + Send, M: BorshDeserialize>(
    io: &mut T,
    cap: usize,
) -> io::Result<M> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_le_bytes(len) as usize;
    if len > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message of {len} bytes, the limit is {cap}"),
        ));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    borsh::from_slice(&buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

async fn write_framed<T: AsyncWrite + Unpin + Send, M: BorshSerialize>(
    io: &mut T,
    msg: &M,
) -> io::Result<()> {
    let bytes = borsh::to_vec(msg)?;
    let len = u32::try_from(bytes.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
    io.write_all(&len.to_le_bytes()).await?;
    io.write_all(&bytes).await?;
    io.close().await
}

#[async_trait]
impl libp2p::request_response::Codec for BlobCodec {
    type Protocol = StreamProtocol;
    type Request = BlobRequest;
    type Response = BlobResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<BlobRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_capped(io, MAX_REQUEST_BYTES).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<BlobResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_capped(io, MAX_RESPONSE_BYTES).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: BlobRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_framed(io, &req).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: BlobResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_framed(io, &res).await
    }
}
