from ministack.app import main

from tidewater.ministack_patches.patches import apply_all

apply_all()
main()
