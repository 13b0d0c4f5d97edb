"""BlazePose keypoints as a per-frame feature, run by LiteRT alone (no TensorFlow, no mediapipe).

assets    find / fetch / verify the two model files
model     one LiteRT interpreter with outputs looked up by shape
detector  SSD anchors, box + keypoint decoding, weighted NMS, letterbox (pose_detection.tflite)
landmarks the rotated person crop and the 33 (+6) landmarks projected back (pose_landmark_full.tflite)
filter    one-euro filter against jitter
tracker   PoseEstimator: detector once, then crops from the previous landmarks
vector    the normalized per-frame pose vector (POSE_DIM), mirror / side swap, no-person flag
draw      a skeleton over a frame
bench     timings of the live pose step
"""

from actionrec.features.pose.assets import fetch_pose_models, find_pose_models
from actionrec.features.pose.tracker import Pose, PoseEstimator, PoseOptions
from actionrec.features.pose.vector import BLAZEPOSE_33, POSE_DIM, pose_vector, pose_vectors

__all__ = ["BLAZEPOSE_33", "POSE_DIM", "Pose", "PoseEstimator", "PoseOptions", "fetch_pose_models",
           "find_pose_models", "pose_vector", "pose_vectors"]
