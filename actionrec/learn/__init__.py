"""Learning: windows of frame features, the frame baseline and the LSTM, training, and grouped evaluation."""
