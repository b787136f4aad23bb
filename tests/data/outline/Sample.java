import java.util.List;

/** Shapes. */
public class Sample {
    static final int MAX = 3;

    /** Builds it. */
    public Sample() {}

    public int area(int w, int h) { return w * h; }
}

interface Shape { double area(); }
