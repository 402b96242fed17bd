// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title LedgerAnchor
/// @notice Public anchor for the checkpoints of append-only Merkle logs (RFC 9162).
/// A log is named by a 32-byte id (SHA-256 of its C2SP checkpoint origin line).
/// The first account to anchor a log id becomes its only writer; after that the
/// anchored tree size must strictly grow, so a log can never be rolled back on chain.
contract LedgerAnchor {
    struct Head {
        uint64 treeSize;
        bytes32 root;
        address writer;
    }

    mapping(bytes32 => Head) private heads;

    event Anchored(bytes32 indexed logId, uint64 treeSize, bytes32 root, address indexed writer);

    error NotWriter(bytes32 logId, address writer, address sender);
    error TreeSizeNotIncreasing(bytes32 logId, uint64 anchored, uint64 proposed);

    /// @notice Record that log `logId` had root `root` at size `treeSize`.
    function anchor(bytes32 logId, uint64 treeSize, bytes32 root) external {
        Head storage h = heads[logId];
        if (h.writer == address(0)) {
            h.writer = msg.sender;
        } else if (h.writer != msg.sender) {
            revert NotWriter(logId, h.writer, msg.sender);
        }
        if (treeSize <= h.treeSize) {
            revert TreeSizeNotIncreasing(logId, h.treeSize, treeSize);
        }
        h.treeSize = treeSize;
        h.root = root;
        emit Anchored(logId, treeSize, root, msg.sender);
    }

    /// @notice The latest anchored size, root and writer of `logId` (zeros if never anchored).
    function latest(bytes32 logId) external view returns (uint64 treeSize, bytes32 root, address writer) {
        Head storage h = heads[logId];
        return (h.treeSize, h.root, h.writer);
    }
}
